"""``python -m xmipp3_micrographcleaner.tests.viewer_screenshot PROJECT PROTOCOL_ID PNG``: opens the
viewer as "Analyze results" does (its form), then the gallery, one micrograph large (by clicking its
tile) and the threshold explorer, and saves a screenshot of the whole display plus a JSON report
(``PNG`` with ``.json``) of the windows that opened. Needs a display: test_viewer runs it in Xvfb.
"""
import json
import sys
import tkinter as tk

PAUSE_MS = 1500


def clickFirstTile(gallery):
    """Clicks the middle of the gallery's first tile, as a user would."""
    gallery.root.update()  # mapped and drawn, so that the tile has its place on the screen
    axes, record = gallery.tiles[0]
    x0, y0, x1, y1 = axes.get_window_extent().extents
    widget = gallery.canvas.get_tk_widget()
    x, y = int((x0 + x1) / 2), int(widget.winfo_height() - (y0 + y1) / 2)
    widget.event_generate("<ButtonPress-1>", x=x, y=y)
    widget.event_generate("<ButtonRelease-1>", x=x, y=y)
    return record


def main(projectName, protocolId, output):
    report = {}
    import pyworkflow.gui.project  # noqa: F401 (before pyworkflow.gui.form: circular import otherwise)
    from PIL import ImageGrab
    from pyworkflow import Config
    from pyworkflow.project import Manager
    from pyworkflow.viewer import DESKTOP_TKINTER

    project = Manager().loadProject(projectName)
    protocol = project.getProtocol(int(protocolId))
    viewerClass = Config.getDomain().findViewers(protocol, DESKTOP_TKINTER)[0]  # as "Analyze results" does
    viewer = viewerClass(project=project, protocol=protocol)
    report["viewer"] = viewerClass.__name__
    timer = tk.Tk()  # the form's main loop runs the timers of every Tk interpreter of this thread
    timer.withdraw()

    def openWindows():
        handlers = viewer._getVisualizeDict()
        windows = {}
        for name in ("showExplorer", "showGallery"):
            view = handlers[name](name)[0]
            view.show()
            windows[name] = view.window
        clicked = clickFirstTile(windows["showGallery"])
        report["clicked"], report["detailName"] = clicked.micId, clicked.name
        for window, place in ((windows["showExplorer"], "+820+0"), (windows["showGallery"], "+0+0"),
                              *((detail, "+560+300") for detail in windows["showGallery"].details)):
            window.root.geometry(place)  # no window manager in Xvfb: spread the windows out
        report["explorerCount"] = windows["showExplorer"].count.cget("text")
        report["galleryTiles"] = len(windows["showGallery"].tiles)
        report["details"] = [detail.root.title() for detail in windows["showGallery"].details]
        timer.after(PAUSE_MS, capture)

    def capture():
        ImageGrab.grab().save(output)
        root = viewer.formWindow.root
        report["form"] = root.title()
        report["windows"] = sorted(child.title() for child in root.winfo_children() if isinstance(child, tk.Toplevel))
        with open(output[:-len(".png")] + ".json", "w") as stream:
            json.dump(report, stream)
        root.quit()

    timer.after(PAUSE_MS, openWindows)
    viewer.visualize(protocol)  # the "Analyze results" form; returns when capture() quits its loop


if __name__ == "__main__":
    main(*sys.argv[1:])
