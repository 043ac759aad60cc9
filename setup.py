"""The Scipion plugin of MicrographCleaner (the engine itself is the ``micrographcleaner`` package in engine/)."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# read, not imported: importing the package needs Scipion, which may not be installed yet
VERSION = re.search(r'^VERSION = "([^"]+)"', (HERE / "xmipp3_micrographcleaner" / "constants.py").read_text(),
                    re.M).group(1)

setup(
    name="scipion-em-micrographcleaner",
    version=VERSION,
    description="Scipion plugin: find bad regions in cryo-EM micrographs and score or filter particle picks",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    license="GPL-3.0-or-later",
    python_requires=">=3.8",
    packages=find_packages(include=["xmipp3_micrographcleaner", "xmipp3_micrographcleaner.*"]),
    package_data={"xmipp3_micrographcleaner": ["protocols.conf", "icon.png"]},
    install_requires=["scipion-em>=3.11", "scipion-pyworkflow>=3.11"],
    entry_points={"pyworkflow.plugin": ["xmipp3_micrographcleaner = xmipp3_micrographcleaner"]},
)
