"""``python -m xmipp3_micrographcleaner.install [--rebuild]``: create the plugin's environment without
the launcher.

Runs exactly what ``scipion3 installb micrographcleaner`` runs (the plugin's own
:meth:`Plugin.defineBinaries` through Scipion's installer), for CI, tests and scripted set-ups. Scipion's
installer skips a package whose ``installed`` flag is there, so an environment that is marked
installed but broken (:meth:`Plugin.environmentProblem`), or any with ``--rebuild``, is removed first.
"""
import os
import shutil
import sys

from pwem import Config as EmConfig
from pyworkflow import Config

from .constants import BINARY, INSTALLED_FLAG

REBUILD = "--rebuild"


def removeEnvironment(home):
    """The environment's folder, and the empty archive Scipion's installer 'downloads' for it (its
    presence would skip the step that recreates the folder)."""
    print("Removing %s" % home)
    shutil.rmtree(home, ignore_errors=True)
    archive = os.path.join(os.path.dirname(home), "void.tgz")
    if os.path.lexists(archive):
        os.remove(archive)


def main(argv=None):
    from scipion.install.funcs import Environment

    from . import Plugin

    argv = list(argv or [])
    rebuild = REBUILD in argv
    Config.getDomain().getPlugins()  # defines the plugin variables, as the launcher does
    problem = Plugin.environmentProblem()
    if rebuild or (problem and os.path.exists(os.path.join(Plugin.getHome(), INSTALLED_FLAG))):
        print(problem or "Rebuilding MicrographCleaner's environment (%s)." % REBUILD)
        removeEnvironment(Plugin.getHome())
    env = Environment(args=[BINARY] + [arg for arg in argv if arg != REBUILD])
    Plugin.defineBinaries(env)
    print("Installing %s into %s" % (BINARY, EmConfig.EM_ROOT))
    env.execute()
    problems = Plugin.validateInstallation()
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
