"""The plugin as Scipion sees it: registration, protocol tree, citations, environment commands;
the demo's project naming."""
import os
import shlex
import unittest

import pyworkflow.gui.project  # noqa: F401  (must precede the protocol tree module: circular import)
from pyworkflow import Config
from pyworkflow.gui.project.viewprotocols_extra import ProtocolTreeConfig
from pyworkflow.project import Manager
from pyworkflow.utils import parseBibTex

from .. import Plugin, bibtex, demo
from ..constants import VERSION
from ..protocols import ProtDeepMicrographScreen


class TestPlugin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Config.getDomain().getPlugins()  # registers the plugins and defines their variables

    def test_registered_with_its_protocol(self):
        domain = Config.getDomain()
        self.assertIn("xmipp3_micrographcleaner", domain.getPlugins())
        self.assertIs(domain.getProtocols()["ProtDeepMicrographScreen"], ProtDeepMicrographScreen)

    def test_protocol_is_under_particles_picking(self):
        views = ProtocolTreeConfig.load(Config.getDomain(),
                                        os.path.join(Config.SCIPION_LOCAL_CONFIG, Config.SCIPION_PROTOCOLS))
        found = []

        def walk(node, path):
            for child in node.childs:
                if child.value == ProtDeepMicrographScreen.__name__:
                    found.append(path)
                walk(child, path + [child.text])
        walk(views["Protocols SPA"], [])
        self.assertIn(["Particles", "Picking"], found)

    def test_citations_resolve(self):
        references = parseBibTex(bibtex.__doc__)
        for key in ProtDeepMicrographScreen()._citations():
            self.assertIn(key, references)

    def test_environment_commands(self):
        """The installed environment is found and has this version's engine; the install command
        copies the engine's source (every path quoted) and installs the copy."""
        self.assertEqual(Plugin.validateInstallation(), [])
        engine = Plugin.runPython("import micrographcleaner; print(micrographcleaner.__version__)")
        self.assertEqual(engine.stdout.strip(), VERSION)
        self.assertEqual(os.path.basename(Plugin.getHome()), "micrographcleaner-" + VERSION)
        command = Plugin.installCommand()
        self.assertIn(shlex.quote(os.path.join(Plugin.engineSource(), "src")), command)
        self.assertIn(shlex.quote("./engine[%s]" % Plugin.tensorflowExtra()), command)
        self.assertTrue(command.endswith("touch installed"))

    def test_demo_keeps_an_existing_project(self):
        """A second demo gets a new name and leaves the first project alone; --force replaces it."""
        manager, name = Manager(), "TestDemoProjectNames"
        names = (name, name + "_2")
        for existing in names:
            if manager.hasProject(existing):
                manager.deleteProject(existing)
        mine = os.path.join(demo.openProject(manager, name, force=False).path, "mine.txt")  # a user's file
        open(mine, "w").close()
        self.assertEqual(demo.openProject(manager, name, force=False).getShortName(), names[1])
        self.assertTrue(os.path.exists(mine))
        self.assertEqual(demo.openProject(manager, name, force=True).getShortName(), name)
        self.assertFalse(os.path.exists(mine))
        for existing in names:
            manager.deleteProject(existing)
