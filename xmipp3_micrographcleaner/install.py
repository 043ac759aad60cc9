"""``python -m xmipp3_micrographcleaner.install``: create the plugin's environment without the launcher.

Runs exactly what ``scipion3 installb micrographcleaner`` runs (the plugin's own
:meth:`Plugin.defineBinaries` through Scipion's installer), for CI, tests and scripted set-ups.
"""
import sys

from pwem import Config as EmConfig
from pyworkflow import Config

from .constants import BINARY


def main(argv=None):
    from scipion.install.funcs import Environment

    from . import Plugin

    Config.getDomain().getPlugins()  # defines the plugin variables, as the launcher does
    env = Environment(args=[BINARY] + list(argv or []))
    Plugin.defineBinaries(env)
    print("Installing %s into %s" % (BINARY, EmConfig.EM_ROOT))
    env.execute()
    problems = Plugin.validateInstallation()
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
