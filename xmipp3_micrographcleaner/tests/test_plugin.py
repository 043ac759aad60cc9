"""The plugin as Scipion sees it: registration, names, protocol tree, citations, environment commands
and a broken environment; the demo's data, project naming and the command that opens its window."""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import mrcfile
import pyworkflow.gui.project  # noqa: F401  (must precede the protocol tree module: circular import)
from PIL import Image
from pyworkflow import Config
from pyworkflow.gui.project.viewprotocols_extra import ProtocolTreeConfig
from pyworkflow.project import Manager
from pyworkflow.utils import parseBibTex

from .. import DISPLAY_NAME, Plugin, bibtex, demo, install
from ..constants import VERSION
from ..protocols import ProtDeepMicrographScreen
from ..protocols.engine_client import EngineError, EngineWorker
from ..viewers import MicrographCleanerViewer


class TestPlugin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Config.getDomain().getPlugins()  # registers the plugins and defines their variables
        Config.getDomain().getProtocols()  # tells each protocol class its plugin, as the GUI's tree does

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

    def test_names(self):
        """The protocol tree, a run's default label and "Analyze results" show the plugin's name
        (not the package's: Xmipp is not needed) and one name for the protocol and its viewer."""
        label = ProtDeepMicrographScreen.getClassLabel()
        self.assertEqual(label, "%s - %s" % (DISPLAY_NAME, ProtDeepMicrographScreen.getClassLabel(False)))
        self.assertNotIn("xmipp", label.lower())
        self.assertEqual(MicrographCleanerViewer.getName(), ProtDeepMicrographScreen.getClassLabel(False))

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

    def test_broken_environment_is_named_with_its_repair(self):
        """An environment marked installed whose venv is gone: one line saying what is missing and the
        command that rebuilds it, at validation and in the run's error when the worker cannot start."""
        with tempfile.TemporaryDirectory() as home, mock.patch.object(Plugin, "getHome", return_value=home), \
                mock.patch.object(Plugin, "isDefaultActivation", return_value=True), \
                mock.patch.object(Plugin, "usesConda", return_value=False):
            problem, = Plugin.validateInstallation()
            self.assertIn("not installed", problem)
            self.assertIn("scipion3 installb micrographcleaner", problem)
            open(os.path.join(home, "installed"), "w").close()
            problem, = Plugin.validateInstallation()
            self.assertIn("broken (%s is missing" % os.path.join(home, "venv", "bin", "python"), problem)
            self.assertIn("%s -m xmipp3_micrographcleaner.install" % sys.executable, problem)
            log = os.path.join(home, "run.stderr")
            with mock.patch.object(Plugin, "getActivationCmd", return_value=". %s/venv/bin/activate" % home):
                with self.assertRaises(EngineError) as caught:
                    EngineWorker(log).run(os.path.join(home, "manifest.json"), os.path.join(home, "result.json"))
                self.assertIn(problem, str(caught.exception))
                with mock.patch.object(Plugin, "environmentProblem", return_value=None), \
                        self.assertRaises(EngineError) as caught:  # what the shell said, when the plugin sees nothing
                    EngineWorker(log).run(os.path.join(home, "manifest.json"), os.path.join(home, "result.json"))
                self.assertIn("venv/bin/activate", str(caught.exception))
                self.assertEqual(len(str(caught.exception).splitlines()), 1)

    def test_installer_rebuilds_a_broken_environment(self):
        """Scipion's installer skips a package whose flag is there: the plugin's removes a broken one first
        (and any with --rebuild), and leaves a complete one alone."""
        with tempfile.TemporaryDirectory() as root, \
                mock.patch.object(Plugin, "isDefaultActivation", return_value=True), \
                mock.patch.object(Plugin, "usesConda", return_value=False), \
                mock.patch("scipion.install.funcs.Environment") as environment:
            home = os.path.join(root, "micrographcleaner-" + VERSION)
            with mock.patch.object(Plugin, "getHome", return_value=home), mock.patch("sys.stderr"):
                for argv, complete, removed in (([], False, True), ([], True, False), (["--rebuild"], True, True)):
                    os.makedirs(os.path.join(home, "venv", "bin"))
                    for name in ["installed"] + (["venv/bin/python", "venv/bin/micrographcleaner"] if complete else []):
                        open(os.path.join(home, name), "w").close()
                    install.main(argv)
                    self.assertEqual(not os.path.exists(home), removed, (argv, complete))
                    self.assertEqual(environment.call_args.kwargs["args"], ["micrographcleaner"])
                    shutil.rmtree(home, ignore_errors=True)

    def test_demo_stops_on_a_broken_environment(self):
        """Before any project is made: the environment's one line, and the usage status."""
        with mock.patch.object(Plugin, "environmentProblem", return_value="the problem, and its repair"), \
                mock.patch.object(demo, "openProject") as openProject, mock.patch("sys.stderr") as stderr:
            self.assertEqual(demo.main(["--project", "TestDemoBroken"]), 2)
        openProject.assert_not_called()
        self.assertIn("the problem, and its repair", "".join(call.args[0] for call in stderr.write.call_args_list))

    def test_gui_command_opens_the_project(self):
        """The demo's last line, run from a fresh shell (no Scipion variables, a bare PATH) in Xvfb, opens
        the project's window: the checkout's scripts/gui.sh, and the plain command printed elsewhere (an
        installed plugin). The screenshots are kept beside the project to look at."""
        if shutil.which("xvfb-run") is None:
            self.skipTest("xvfb-run is not installed (the test command installs xvfb when it runs as root "
                          "with apt-get)")
        manager, name = Manager(), "TestGuiCommand"
        if manager.hasProject(name):
            manager.deleteProject(name)
        project = manager.createProject(name)
        for form, script in (("gui.sh", demo.GUI_SCRIPT), ("plain", Path(project.path, "no-gui.sh"))):
            with mock.patch.object(demo, "GUI_SCRIPT", script):
                command = demo.guiCommand(name)
            self.assertEqual(command.startswith("bash "), form == "gui.sh", command)
            shot = os.path.join(project.path, "gui_%s.png" % form)
            self.assertWindowOpens(command, shot)

    def assertWindowOpens(self, command, shot):
        """Takes screenshots until the (white) window covers a third of the (black) screen, then ends it."""
        grab = ("from PIL import ImageGrab; import numpy, sys; picture = ImageGrab.grab(); picture.save(%r); "
                "sys.exit(int(numpy.mean(numpy.asarray(picture.convert('L')) > 200) < 0.33))" % shot)
        script = """grab() { %s -c %s; }
%s &
for i in $(seq 120); do sleep 1; grab && break; done
sleep 3; grab; shown=$?; kill $!; exit $shown""" % (shlex.quote(sys.executable), shlex.quote(grab), command)
        fresh = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
        run = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", "bash", "-c", script], env=fresh,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, "no window from %s (screenshot %s): %s"
                         % (command, shot, run.stderr[-3000:]))

    def test_demo_data_is_complete(self):
        """Every micrograph the demo describes ships with its picks, inside it, and its source's licence."""
        for source in demo.SOURCES:
            self.assertTrue((demo.DATA / source.folder / "LICENSE").is_file(), source.folder)
            for stem in source.seen:
                picture, = [path for path in (demo.DATA / source.folder).glob(stem + ".*") if path.suffix != ".star"]
                if picture.suffix == ".mrc":
                    with mrcfile.open(picture, permissive=True, header_only=True) as mrc:
                        width, height = int(mrc.header.nx), int(mrc.header.ny)
                else:
                    width, height = Image.open(picture).size
                picks = demo.readPicks(demo.pickFile(source, stem))
                self.assertGreater(len(picks), 40, stem)
                for x, y in picks:
                    self.assertTrue(0 <= x < width and 0 <= y < height, (stem, x, y))

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
