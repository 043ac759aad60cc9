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
DISPLAY_NAME = "MicrographCleaner"  # before each protocol's label: "MicrographCleaner - deep micrograph screen"


class Plugin(pwem.Plugin):
    _homeVar = HOME_VAR
    _url = "https://github.com/scipion-em/scipion-em-micrographcleaner"
    _supportedVersions = [VERSION]
    _processingField = ["SPA"]

    def getName(self):
        """The name Scipion puts before the protocol's label, in the protocol tree, the run's default
        label and its log; otherwise the package's, xmipp3_micrographcleaner, though Xmipp is not needed."""
        return DISPLAY_NAME

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
    def environmentProblem(cls):
        """What is wrong with the plugin's own environment, in one line that names the command that
        mends it; None when it looks complete. A user-set activation is trusted, and a conda
        environment is not looked into (that would cost a conda call per protocol validation)."""
        if not cls.isDefaultActivation():
            return None
        home = cls.getHome()
        flag = os.path.join(home, INSTALLED_FLAG)
        installer = "%s -m xmipp3_micrographcleaner.install" % shlex.quote(sys.executable)  # Scipion's Python
        if not os.path.exists(flag):
            return ("MicrographCleaner's environment is not installed (%s is missing): install it with "
                    "'scipion3 installb %s' (or '%s'), or set %s to a command that activates an environment "
                    "where the 'micrographcleaner' command runs." % (flag, BINARY, installer, ACTIVATION_VAR))
        if cls.usesConda():
            return None
        missing = [path for path in (os.path.join(cls._venvDir(), "bin", name) for name in ("python", BINARY))
                   if not os.path.exists(path)]
        if missing:
            return ("MicrographCleaner's environment is broken (%s is missing, though %s says it is installed): "
                    "rebuild it with '%s' (or 'rm -rf %s && scipion3 installb %s')."
                    % (missing[0], flag, installer, shlex.quote(home), BINARY))
        return None

    @classmethod
    def validateInstallation(cls):
        """Scipion runs this before every protocol of the plugin starts: the environment's problem, if any."""
        problem = cls.environmentProblem()
        return [problem] if problem else []
