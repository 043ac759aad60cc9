"""``python scripts/plugin_manager.py WHEEL``: install the plugin by its pip name as Scipion's plugin
manager does (``scipion3 installp -p scipion-em-micrographcleaner``), before any release on PyPI.

It runs installp's own code (catalogue from ``SCIPION_PLUGIN_JSON``, ``pip install NAME==VERSION``,
then the plugin's default binaries), with one question answered locally: installp asks PyPI's JSON
API which releases exist and which Scipion each runs in (the comment of the uploaded file, see
docs/releasing.rst); here the answer describes WHEEL, which pip finds through
``PIP_FIND_LINKS``. (installp treats a catalogue read from a file as a developer's: every entry
version 999.9.9, installed from its ``pluginSourceUrl``; the answer makes it read as the catalogue
Scipion serves.) Run it from a folder without a checkout in it.
"""
import os
import sys

from scipion.install import install_plugin
from scipion.install.plugin_funcs import PluginInfo

RELEASE_COMMENT = "scipion-3.0"  # the comment a release is uploaded with (docs/releasing.rst)
PIP_NAME = "scipion-em-micrographcleaner"


def main(wheel):
    version = os.path.basename(wheel).split("-")[1]
    answer = {"info": {"summary": "", "home_page": ""},
              "releases": {version: [{"comment_text": RELEASE_COMMENT, "upload_time": "local wheel"}]}}
    PluginInfo.getPipJsonData = lambda self: answer
    PluginInfo.setFakedRemotePluginInfo = PluginInfo.setRemotePluginInfo
    sys.argv = ["scipion", "installp", "-p", PIP_NAME]
    install_plugin.installPluginMethods()  # exits with installp's status


if __name__ == "__main__":
    main(sys.argv[1])
