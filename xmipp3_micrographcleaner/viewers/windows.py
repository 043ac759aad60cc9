"""Tk windows of the viewer: the thumbnail gallery (with a large view per micrograph) and the
threshold explorer. Plain tkinter with matplotlib's Tk canvas, so they need neither Xmipp nor Java.
"""
import tkinter as tk
from tkinter import messagebox, ttk

import numpy as np
from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg, NavigationToolbar2Tk
from matplotlib.figure import Figure
from pyworkflow.viewer import View

from . import figures
from .results import SORT_ORDERS, pageCount, registerCoordinates, sortedMicrographs, subsetName

CURVE_THRESHOLDS = np.linspace(0.0, 1.0, 201)


class FigureWindow:
    """A window with a row of controls above one matplotlib figure."""

    def __init__(self, master, title, size):
        self.ownsRoot = master is None
        self.root = tk.Tk() if self.ownsRoot else tk.Toplevel(master)
        self.root.title(title)
        self.controls = ttk.Frame(self.root, padding=4)
        self.controls.pack(side=tk.TOP, fill=tk.X)
        self.figure = Figure(figsize=size, dpi=100)
        self.canvas = FigureCanvasTkAgg(self.figure, master=self.root)
        NavigationToolbar2Tk(self.canvas, self.root).update()
        self.canvas.get_tk_widget().pack(side=tk.TOP, fill=tk.BOTH, expand=True)

    def redraw(self):
        self.figure.clear()
        self.draw(self.figure)
        self.canvas.draw_idle()

    def draw(self, figure):
        raise NotImplementedError

    def button(self, text, command):
        widget = ttk.Button(self.controls, text=text, command=command)
        widget.pack(side=tk.LEFT, padx=2)
        return widget


class DetailWindow(FigureWindow):
    """One micrograph large, with its numbers."""

    def __init__(self, master, record):
        FigureWindow.__init__(self, master, "Micrograph %d: %s" % (record.micId, record.name), (10, 7))
        self.record = record
        self.redraw()

    def draw(self, figure):
        figures.micrographDetail(figure, self.record)


class GalleryWindow(FigureWindow):
    """Every micrograph's thumbnail, a page at a time, sortable; a click opens one large."""

    def __init__(self, master, results, sortOrder=0, perPage=12, columns=4):
        FigureWindow.__init__(self, master, "Micrograph cleaner: gallery", (12, 8.5))
        self.results, self.perPage, self.columns = results, perPage, columns
        self.page, self.tiles, self.details = 0, [], []
        self.button("< Previous", lambda: self.turn(-1))
        self.button("Next >", lambda: self.turn(1))
        self.pageLabel = ttk.Label(self.controls, width=14)
        self.pageLabel.pack(side=tk.LEFT, padx=6)
        ttk.Label(self.controls, text="Sort by:").pack(side=tk.LEFT)
        self.sortOrder = tk.StringVar(self.root, list(SORT_ORDERS)[sortOrder])
        chooser = ttk.Combobox(self.controls, textvariable=self.sortOrder, values=list(SORT_ORDERS),
                               state="readonly", width=32)
        chooser.pack(side=tk.LEFT, padx=2)
        chooser.bind("<<ComboboxSelected>>", lambda event: self.turn(-self.page))
        ttk.Label(self.controls, text="Click a micrograph to see it large.").pack(side=tk.LEFT, padx=8)
        self.canvas.mpl_connect("button_press_event", self.open)
        self.redraw()

    def pages(self):
        return pageCount(len(self.results.micrographs), self.perPage)

    def turn(self, step):
        self.page = min(max(self.page + step, 0), self.pages() - 1)
        self.redraw()

    def draw(self, figure):
        records = sortedMicrographs(self.results.micrographs, self.sortOrder.get())
        shown = records[self.page * self.perPage:(self.page + 1) * self.perPage]
        self.pageLabel.configure(text="page %d of %d" % (self.page + 1, self.pages()))
        self.tiles = figures.galleryPage(figure, shown, self.columns,
                                         "%d micrographs, %s" % (len(records), self.sortOrder.get()))

    def open(self, event):
        for axes, record in self.tiles:
            if event.inaxes is axes:
                self.details.append(DetailWindow(self.root, record))


class ExplorerWindow(FigureWindow):
    """Another threshold and minimum distance, the count they keep, and a button that registers them."""

    def __init__(self, master, results, project, protocol, threshold, minDistance):
        FigureWindow.__init__(self, master, "Micrograph cleaner: threshold explorer", (8, 5.5))
        self.results, self.project, self.protocol = results, project, protocol
        ttk.Label(self.controls, text="Threshold:").pack(side=tk.LEFT)
        self.threshold = tk.DoubleVar(self.root, round(threshold, 2))
        tk.Scale(self.controls, variable=self.threshold, from_=0.0, to=1.0, resolution=0.01, orient=tk.HORIZONTAL,
                 length=260, command=lambda value: self.redraw()).pack(side=tk.LEFT, padx=4)
        ttk.Label(self.controls, text="Min. distance (A):").pack(side=tk.LEFT)
        self.minDistance = tk.StringVar(self.root, "%g" % minDistance)
        entry = ttk.Entry(self.controls, textvariable=self.minDistance, width=7)
        entry.pack(side=tk.LEFT, padx=4)
        entry.bind("<Return>", lambda event: self.redraw())
        self.count = ttk.Label(self.controls, width=22)
        self.count.pack(side=tk.LEFT, padx=6)
        self.registerButton = self.button("Register these coordinates", self.register)
        self.redraw()

    def choice(self):
        """(threshold, minimum distance) as entered; an unreadable distance counts as none."""
        try:
            distance = max(float(self.minDistance.get() or 0), 0.0)
        except ValueError:
            distance = 0.0
        return round(self.threshold.get(), 2), distance

    def draw(self, figure):
        threshold, distance = self.choice()
        kept = int(self.results.kept(threshold, distance).sum())
        self.count.configure(text="%d of %d kept" % (kept, len(self.results.scores)))
        figures.keptCurve(figure, CURVE_THRESHOLDS, self.results.keptCounts(CURVE_THRESHOLDS, distance),
                          len(self.results.scores), threshold, kept, distance, self.results.threshold)

    def register(self):
        threshold, distance = self.choice()
        name = subsetName(threshold, distance)
        if not messagebox.askyesno("Register coordinates", "Register %s on %s?"
                                   % (name, self.protocol.getRunName()), parent=self.root):
            return
        try:
            name, subset = registerCoordinates(self.project, self.protocol, threshold, distance)
        except Exception as error:
            messagebox.showerror("Register coordinates", str(error), parent=self.root)
            return
        messagebox.showinfo("Register coordinates", "%s registered: %d coordinates." % (name, subset.getSize()),
                            parent=self.root)


class WindowView(View):
    """Opens a window over the viewer's form (or on its own root, then waits until it closes)."""

    def __init__(self, windowClass, master, **kwargs):
        View.__init__(self)
        self.windowClass, self.master, self.kwargs = windowClass, master, kwargs
        self.window = None

    def show(self):
        self.window = self.windowClass(self.master, **self.kwargs)
        if self.window.ownsRoot:
            self.window.root.mainloop()
