"""``python -m xmipp3_micrographcleaner.tests.correction_screenshot PROJECT PROTOCOL_ID PNG``: opens the
correction window on a screen run as its form does (the most flagged micrograph first), fills an
outline as contamination and brushes a stroke as unsure, and saves a picture of the window; nothing
is saved to the run. Needs a display, e.g. ``xvfb-run -a -s "-screen 0 1600x1000x24"``: the user
guide's ``docs/correction_window.png`` is this on the demo's screen of the two EMPIAR frames.
Its pointer and picture helpers drive the window in test_correction too.
"""
import os
import sys
import tkinter as tk

from PIL import ImageGrab

from ..viewers.corrections import CODES, UNSURE

MOST_FLAGGED = 1  # the form's "Propose first" choice


def canvasPoint(window, x, y):
    """The canvas coordinates (event fields) of the working-image point (x, y)."""
    return {"x": round((x + 0.5) * window.zoom - window.canvas.canvasx(0)),
            "y": round((y + 0.5) * window.zoom - window.canvas.canvasy(0))}


def drag(window, points):
    """Presses the first button at the first point (working pixels), moves through the others, releases."""
    canvas = window.canvas
    canvas.event_generate("<ButtonPress-1>", **canvasPoint(window, *points[0]))
    for point in points[1:]:
        canvas.event_generate("<B1-Motion>", state=0x100, **canvasPoint(window, *point))  # button 1 held
    canvas.event_generate("<ButtonRelease-1>", **canvasPoint(window, *points[-1]))
    window.root.update()


def grab(window, path):
    """A picture of the window as it is on the display (brush outline hidden)."""
    window.canvas.coords(window.cursor, 0, 0, 0, 0)
    root = window.root
    root.update()
    x, y = root.winfo_rootx(), root.winfo_rooty()
    ImageGrab.grab(bbox=(x, y, x + root.winfo_width(), y + root.winfo_height())).save(path)
    return path


def main(projectName, protocolId, output):
    from pyworkflow.project import Manager

    from ..viewers import MicrographCleanerViewer

    output = os.path.abspath(output)  # loading the project changes the working folder
    project = Manager().loadProject(projectName)
    protocol = project.getProtocol(int(protocolId))
    viewer = MicrographCleanerViewer(project=project, protocol=protocol)
    viewer.setProtocol(protocol)
    viewer.correctionOrder.set(MOST_FLAGGED)
    root = tk.Tk()
    root.withdraw()
    view, = viewer._getVisualizeDict()["showCorrections"]()
    view.master = root
    view.show()
    window = view.window
    window.root.geometry("+0+0")
    window.root.update()
    height, width = window.saved.shape
    window.choose(CODES["contamination"])
    window.tool.set("outline")
    drag(window, [(width * 0.55, height * 0.55), (width * 0.75, height * 0.5), (width * 0.8, height * 0.75),
                  (width * 0.6, height * 0.8)])
    window.choose(UNSURE)
    window.tool.set("brush")
    window.brush.set(max(4, width // 25))
    drag(window, [(width * 0.15, height * 0.85), (width * 0.3, height * 0.8), (width * 0.4, height * 0.9)])
    grab(window, output)
    root.destroy()


if __name__ == "__main__":
    main(*sys.argv[1:])
