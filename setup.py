"""The Scipion plugin of MicrographCleaner. Its distribution carries the engine's source (engine/),
so that the plugin's own installer can build the engine's environment with no checkout and no
second package."""
import importlib.util
import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


def _constants():
    """constants.py, loaded by path: importing the package needs Scipion, which may not be installed yet."""
    spec = importlib.util.spec_from_file_location("constants", HERE / "xmipp3_micrographcleaner" / "constants.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONSTANTS = _constants()


class BuildWithEngine(build_py):
    """Copies the engine's source into the built package (xmipp3_micrographcleaner/engine); an
    editable install needs no copy: the checkout's engine/ is beside the package."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "xmipp3_micrographcleaner" / CONSTANTS.ENGINE_COPY
        shutil.rmtree(target, ignore_errors=True)
        for name in CONSTANTS.ENGINE_FILES:  # MANIFEST.in puts the same in the sdist
            source = HERE / "engine" / name
            if source.is_dir():
                shutil.copytree(source, target / name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(
    name="scipion-em-micrographcleaner",
    version=CONSTANTS.VERSION,
    description="Scipion plugin: find bad regions in cryo-EM micrographs and score or filter particle picks",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    url="https://github.com/scipion-em/scipion-em-micrographcleaner",
    license="GPL-3.0-or-later",
    python_requires=">=3.8",
    packages=find_packages(include=["xmipp3_micrographcleaner", "xmipp3_micrographcleaner.*"]),
    package_data={"xmipp3_micrographcleaner": ["protocols.conf", "icon.png", "demo_data/*.md", "demo_data/*/*"]},
    install_requires=["scipion-em>=3.11", "scipion-pyworkflow>=3.11"],
    entry_points={"pyworkflow.plugin": ["xmipp3_micrographcleaner = xmipp3_micrographcleaner"]},
    cmdclass={"build_py": BuildWithEngine},
)
