"""MicrographCleaner for Scipion: find carbon, contamination and other bad regions in micrographs
and score (and filter) particle coordinates against them.

The network runs in an environment of its own, created by :meth:`Plugin.defineBinaries`, so that
TensorFlow never shares a Python with Scipion; the protocol talks to it through one
``micrographcleaner worker`` per run (a JSON manifest in, a JSON result out per batch), whose
vocabulary is the engine's contract (:data:`.constants.contract`).
"""
import os
import shlex
import shutil
import subprocess
import sys

import pwem
import pyworkflow
import pyworkflow.utils as pwutils

from .constants import (ACTIVATION_VAR, BINARY, ENGINE_COPY, ENGINE_FILES, ENV_NAME, HOME_VAR, INSTALLED_FLAG,
                        TENSORFLOW_VAR, VERSION, engineDir)

__version__ = VERSION
_logo = "icon.png"
_references = ["SanchezGarcia2020"]


class Plugin(pwem.Plugin):
    _homeVar = HOME_VAR
    _url = "https://github.com/scipion-em/scipion-em-micrographcleaner"
    _supportedVersions = [VERSION]
    _processingField = ["SPA"]

    @classmethod
    def _defineVariables(cls):
        cls._defineEmVar(HOME_VAR, ENV_NAME, description="Folder of MicrographCleaner's environment")
        cls._defineVar(ACTIVATION_VAR, cls._defaultActivation(),
                       description="Shell command that activates an environment with the "
                                   "micrographcleaner command")
        cls._defineVar(TENSORFLOW_VAR, "auto",
                       description="TensorFlow build to install: cpu, gpu, or auto (gpu when CUDA is present)")

    # ---------------------------------------------------------------- environment
    @classmethod
    def usesConda(cls):
        """Conda when Scipion is configured with it, a plain venv otherwise."""
        return bool(pyworkflow.Config.CONDA_ACTIVATION_CMD)

    @classmethod
    def _venvDir(cls):
        return os.path.join(cls.getHome(), "venv")

    @classmethod
    def _defaultActivation(cls):
        if cls.usesConda():
            return "conda activate %s" % ENV_NAME
        return ". %s" % shlex.quote(os.path.join(cls.getHome(), "venv", "bin", "activate"))

    @classmethod
    def getActivationCmd(cls):
        """The whole shell prefix that puts micrographcleaner on the PATH."""
        activation = cls.getVar(ACTIVATION_VAR)
        if activation.startswith("conda "):
            return cls.getCondaActivationCmd() + " " + activation
        return activation

    @classmethod
    def getProgram(cls):
        return "%s && micrographcleaner" % cls.getActivationCmd()

    @classmethod
    def runPython(cls, code, check=True):
        """Runs Python ``code`` in the engine's environment (never in Scipion's)."""
        return subprocess.run("%s && python -c %s" % (cls.getActivationCmd(), shlex.quote(code)), shell=True,
                              env=cls.getEnviron(), check=check, capture_output=True, text=True)

    @classmethod
    def getEnviron(cls):
        """Scipion's environment minus its Python paths, which must not leak into the engine's Python."""
        environ = pwutils.Environ(os.environ)
        for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            environ.pop(name, None)
        return environ

    @classmethod
    def engineSource(cls):
        """The engine's source: the checkout's engine/ (--devel), else the copy inside this plugin's package."""
        return str(engineDir())

    @classmethod
    def tensorflowExtra(cls):
        wanted = cls.getVar(TENSORFLOW_VAR, "auto").lower()
        if wanted == "auto":
            hasCuda = shutil.which("nvidia-smi") is not None or bool(os.environ.get("CUDA_HOME"))
            wanted = "gpu" if hasCuda else "cpu"
        if wanted not in ("cpu", "gpu"):
            raise ValueError("%s must be cpu, gpu or auto, got %r" % (TENSORFLOW_VAR, wanted))
        return wanted

    @classmethod
    def installCommand(cls):
        """Shell command (run inside the home folder) that creates the environment and installs the engine.

        The engine's source is copied into the home folder first: pip builds in the source tree, which
        must not be the installed plugin's package (it may be read-only, and pip would leave files there).
        """
        sources = " ".join(shlex.quote(os.path.join(cls.engineSource(), name)) for name in ENGINE_FILES)
        copy = "rm -rf {0} && mkdir {0} && cp -r {1} {0}/ && ".format(ENGINE_COPY, sources)
        requirement = shlex.quote("./%s[%s]" % (ENGINE_COPY, cls.tensorflowExtra()))
        if cls.usesConda():
            create = ("%s conda create -y -n %s python=3.11 && %s conda activate %s && "
                      % (cls.getCondaActivationCmd(), ENV_NAME, cls.getCondaActivationCmd(), ENV_NAME))
            python = "python"
        else:
            create = "%s -m venv venv && " % shlex.quote(sys.executable)
            python = "venv/bin/python"
        return (copy + create + "%s -m pip install --upgrade pip && %s -m pip install %s && touch %s"
                % (python, python, requirement, INSTALLED_FLAG))

    @classmethod
    def defineBinaries(cls, env):
        env.addPackage(BINARY, version=VERSION, tar="void.tgz", url="file:/dev/null",
                       commands=[(cls.installCommand(), INSTALLED_FLAG)],
                       neededProgs=["conda"] if cls.usesConda() else [], default=True)

    @classmethod
    def isDefaultActivation(cls):
        return cls.getVar(ACTIVATION_VAR) == cls._defaultActivation()

    @classmethod
    def validateInstallation(cls):
        """Only the plugin's own environment can be checked; a user-set activation is trusted."""
        flag = os.path.join(cls.getHome(), INSTALLED_FLAG)
        if not cls.isDefaultActivation() or os.path.exists(flag):
            return []
        return ["MicrographCleaner's environment is not installed: %s is missing." % flag,
                "Install it with 'scipion3 installb %s' (or 'python -m xmipp3_micrographcleaner.install' "
                "from this Scipion's Python), or set %s to a command that activates an environment "
                "where the 'micrographcleaner' command runs." % (BINARY, ACTIVATION_VAR)]
