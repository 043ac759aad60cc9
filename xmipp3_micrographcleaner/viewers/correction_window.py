"""The correction window: one micrograph large with its labels over it, tools to paint them right,
and the run's micrographs listed with the most worth reviewing first.

Plain Tk, a Canvas showing a PIL picture redrawn per pointer move (a matplotlib figure would lag
behind a brush). It only draws and edits; what it reads and saves is :mod:`.corrections`'.
"""
import tkinter as tk
from tkinter import messagebox, ttk

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageTk

from ..constants import contract
from .corrections import BAD_CLASSES, CODES, GOOD, PROPOSAL_ORDERS, UNSURE, proposalOrder

UNDO_LEVELS = 30
TINT = 0.45  # opacity of a bad class over the micrograph
UNSURE_GREYS = (70, 230)  # the unsure hatch: dark and light stripes, two working pixels wide, seen on any grey
ZOOMS = (0.25, 16.0)  # display pixels per working pixel
CANVAS = (780, 720)
OUTLINE_COLOUR = "#ffff00"
PAINT_NAMES = {"bad": "bad, no class", "ignore": "unsure (not trained on)"}
SHORTCUTS = ("Keys: 1-5 bad class · g good · u unsure · b brush · f fill an outline · [ ] brush size · "
             "Shift+G whole good · Shift+B whole bad · Ctrl+Z undo · Ctrl+Y redo · s save · "
             "Enter save and next · n/p next/previous · wheel or +/- zoom, 0 fit · "
             "right-drag or arrows pan (click the picture first)")


def greyscale(image):
    """A micrograph as 8-bit grey, its 1st to 99th percentile stretched over the range."""
    low, high = np.percentile(image, (1, 99))
    return (np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)


def overlay(grey, codes):
    """The micrograph (8-bit) with every bad class tinted in its contract colour and unsure pixels
    hatched grey; good pixels stay as they are."""
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    for name in BAD_CLASSES:
        where = codes == CODES[name]
        rgb[where] = (1 - TINT) * rgb[where] + TINT * np.array(ImageColor.getrgb(contract.class_colour(name)))
    rows, columns = np.indices(codes.shape)
    for stripe, grey in enumerate(UNSURE_GREYS):
        where = (codes == UNSURE) & ((rows + columns) % 4 // 2 == stripe)
        rgb[where] = 0.3 * rgb[where] + 0.7 * grey
    return rgb.astype(np.uint8)


def percent(value):
    return "-" if value != value else "%.1f%%" % (100 * value)  # NaN: unknown


class CorrectionWindow:
    """Review and correct the model's labels of a screen run's micrographs, one at a time."""

    def __init__(self, master, store, items, order=0):
        self.ownsRoot = master is None
        self.root = tk.Tk() if self.ownsRoot else tk.Toplevel(master)
        self.root.title("Micrograph cleaner: correct masks")
        self.store, self.items = store, proposalOrder(items, list(PROPOSAL_ORDERS)[order])
        self.code = tk.IntVar(self.root, CODES["carbon"])
        self.badCode = CODES["carbon"]  # what "whole bad" paints: the last bad class chosen
        self.tool = tk.StringVar(self.root, "brush")
        self.brush = tk.IntVar(self.root, 8)  # diameter, working pixels
        self.index, self.zoom, self.stroke, self.undo, self.redo = None, 1.0, None, [], []
        self.reviews = self.store.reviews()  # read again after each save
        self.buildTools()
        self.buildCanvas()
        self.buildList()
        ttk.Label(self.root, text=SHORTCUTS, wraplength=1300, padding=4).grid(row=1, column=0, columnspan=3, sticky="w")
        self.status = ttk.Label(self.root, padding=(4, 0, 4, 4))
        self.status.grid(row=2, column=0, columnspan=3, sticky="w")
        self.root.columnconfigure(1, weight=1)
        self.root.rowconfigure(0, weight=1)
        self.bindKeys()
        self.root.protocol("WM_DELETE_WINDOW", self.close)
        self.show(next((i for i, item in enumerate(self.items) if item.stem not in self.reviews), 0))

    # ------------------------------------------------------------------ layout
    def buildTools(self):
        tools = ttk.Frame(self.root, padding=4)
        tools.grid(row=0, column=0, sticky="ns")
        paint = ttk.LabelFrame(tools, text="Paint", padding=4)
        paint.pack(fill=tk.X)
        for key, name in zip("12345", BAD_CLASSES):
            self.paintChoice(paint, name, key, contract.class_colour(name))
        self.paintChoice(paint, "good", "g", "")
        self.paintChoice(paint, "ignore", "u", "#%02x%02x%02x" % ((sum(UNSURE_GREYS) // 2,) * 3))
        tool = ttk.LabelFrame(tools, text="Tool", padding=4)
        tool.pack(fill=tk.X, pady=4)
        for value, text in (("brush", "brush (b)"), ("outline", "fill an outline (f)")):
            ttk.Radiobutton(tool, text=text, value=value, variable=self.tool).pack(anchor="w")
        ttk.Label(tool, text="Brush size ([ ]):").pack(anchor="w")
        tk.Scale(tool, variable=self.brush, from_=1, to=64, orient=tk.HORIZONTAL).pack(fill=tk.X)
        for text, command in (("Whole good (Shift+G)", lambda: self.fillAll(GOOD)),
                              ("Whole bad (Shift+B)", lambda: self.fillAll(self.badCode)),
                              ("Undo (Ctrl+Z)", self.undoEdit), ("Redo (Ctrl+Y)", self.redoEdit),
                              ("Save (s)", self.save), ("Save and next (Enter)", self.saveAndNext),
                              ("< Previous (p)", lambda: self.go(self.index - 1)),
                              ("Next > (n)", lambda: self.go(self.index + 1)), ("Fit (0)", self.fit)):
            ttk.Button(tools, text=text, command=command).pack(fill=tk.X, pady=1)

    def paintChoice(self, frame, name, key, colour):
        row = ttk.Frame(frame)
        row.pack(anchor="w", fill=tk.X)
        tk.Label(row, width=2, background=colour or row.winfo_toplevel().cget("background"),
                 relief=tk.SOLID if colour else tk.FLAT, borderwidth=1).pack(side=tk.LEFT, padx=(0, 4))
        ttk.Radiobutton(row, text="%s (%s)" % (PAINT_NAMES.get(name, name.replace("_", " ")), key), value=CODES[name],
                        variable=self.code, command=lambda: self.choose(CODES[name])).pack(side=tk.LEFT)

    def buildCanvas(self):
        frame = ttk.Frame(self.root)
        frame.grid(row=0, column=1, sticky="nsew")
        self.canvas = tk.Canvas(frame, width=CANVAS[0], height=CANVAS[1], background="#303030",
                                highlightthickness=0, cursor="crosshair")
        scrollX = ttk.Scrollbar(frame, orient=tk.HORIZONTAL, command=self.canvas.xview)
        scrollY = ttk.Scrollbar(frame, orient=tk.VERTICAL, command=self.canvas.yview)
        self.canvas.configure(xscrollcommand=scrollX.set, yscrollcommand=scrollY.set)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        scrollY.grid(row=0, column=1, sticky="ns")
        scrollX.grid(row=1, column=0, sticky="ew")
        frame.columnconfigure(0, weight=1)
        frame.rowconfigure(0, weight=1)
        self.picture = self.canvas.create_image(0, 0, anchor="nw")
        self.cursor = self.canvas.create_oval(0, 0, 0, 0, outline=OUTLINE_COLOUR)
        for sequence, handler in (("<ButtonPress-1>", self.press), ("<B1-Motion>", self.drag),
                                  ("<ButtonRelease-1>", self.release), ("<Motion>", self.moveCursor),
                                  ("<ButtonPress-3>", lambda e: self.canvas.scan_mark(e.x, e.y)),
                                  ("<B3-Motion>", lambda e: self.canvas.scan_dragto(e.x, e.y, gain=1)),
                                  ("<MouseWheel>", lambda e: self.zoomBy(1.25 if e.delta > 0 else 0.8, e.x, e.y)),
                                  ("<Button-4>", lambda e: self.zoomBy(1.25, e.x, e.y)),
                                  ("<Button-5>", lambda e: self.zoomBy(0.8, e.x, e.y)),
                                  ("<Left>", lambda e: self.canvas.xview_scroll(-1, "units")),
                                  ("<Right>", lambda e: self.canvas.xview_scroll(1, "units")),
                                  ("<Up>", lambda e: self.canvas.yview_scroll(-1, "units")),
                                  ("<Down>", lambda e: self.canvas.yview_scroll(1, "units"))):
            self.canvas.bind(sequence, handler)

    def buildList(self):
        frame = ttk.Frame(self.root, padding=4)
        frame.grid(row=0, column=2, sticky="ns")
        ttk.Label(frame, text="Micrographs, most worth reviewing first").pack(anchor="w")
        self.tree = ttk.Treeview(frame, columns=("flagged", "uncertain", "reviewed"), height=30, selectmode="browse")
        for column, text, width in (("#0", "micrograph", 200), ("flagged", "flagged", 70),
                                    ("uncertain", "uncertain", 80), ("reviewed", "reviewed", 90)):
            self.tree.heading(column, text=text)
            self.tree.column(column, width=width, stretch=column == "#0")
        for index, item in enumerate(self.items):
            self.tree.insert("", tk.END, iid=str(index), text=item.name,
                             values=(percent(item.flagged), percent(item.uncertain), self.reviewed(item)))
        self.tree.pack(fill=tk.BOTH, expand=True)
        self.tree.bind("<<TreeviewSelect>>", self.picked)

    def bindKeys(self):
        keys = {**{"<Key-%s>" % key: lambda name=name: self.choose(CODES[name])
                   for key, name in zip("12345", BAD_CLASSES)},
                "<Key-g>": lambda: self.choose(GOOD), "<Key-u>": lambda: self.choose(UNSURE),
                "<Key-b>": lambda: self.tool.set("brush"), "<Key-f>": lambda: self.tool.set("outline"),
                "<Key-bracketleft>": lambda: self.brush.set(max(1, self.brush.get() - 2)),
                "<Key-bracketright>": lambda: self.brush.set(min(64, self.brush.get() + 2)),
                "<Key-G>": lambda: self.fillAll(GOOD), "<Key-B>": lambda: self.fillAll(self.badCode),
                "<Control-z>": self.undoEdit, "<Control-y>": self.redoEdit, "<Control-Z>": self.redoEdit,
                "<Key-s>": self.save, "<Return>": self.saveAndNext,
                "<Key-n>": lambda: self.go(self.index + 1), "<Key-p>": lambda: self.go(self.index - 1),
                "<Key-plus>": lambda: self.zoomBy(1.25), "<Key-equal>": lambda: self.zoomBy(1.25),
                "<Key-minus>": lambda: self.zoomBy(0.8), "<Key-0>": self.fit}
        for sequence, command in keys.items():
            self.root.bind(sequence, lambda event, command=command: command())

    # ------------------------------------------------------------------ micrographs
    def reviewed(self, item):
        review = self.reviews.get(item.stem)
        return "no" if review is None else "yes, edited" if review["edited"] else "yes"

    def current(self):
        return self.items[self.index]

    def show(self, index):
        self.index = index
        item = self.current()
        self.grey = greyscale(item.image())
        self.saved = self.store.codes(item)  # what the labels are on disk: edits are what differs
        self.labels = Image.fromarray(self.saved)
        self.undo, self.redo = [], []
        self.tree.selection_set(str(index))
        self.tree.see(str(index))
        self.fit()

    def go(self, index):
        """Shows another micrograph, once the user has saved or dropped this one's edits."""
        if 0 <= index < len(self.items) and index != self.index and self.leaveOk():
            self.show(index)
        else:
            self.tree.selection_set(str(self.index))

    def picked(self, event):
        selected = self.tree.selection()
        if selected and int(selected[0]) != self.index:
            self.go(int(selected[0]))

    def unsaved(self):
        return not np.array_equal(np.asarray(self.labels), self.saved)

    def leaveOk(self):
        """Whether the current micrograph may be left: no edits, or saved or dropped by the user."""
        if not self.unsaved():
            return True
        answer = messagebox.askyesnocancel("Unsaved edits", "Save your edits of %s before leaving it?"
                                           % self.current().name, parent=self.root)
        return answer is not None and (not answer or self.save())

    def save(self):
        item = self.current()
        codes = np.asarray(self.labels).copy()
        try:
            self.store.save(item, codes)
        except (OSError, ValueError) as error:
            messagebox.showerror("Save correction", str(error), parent=self.root)
            return False
        self.saved, self.reviews = codes, self.store.reviews()
        self.tree.set(str(self.index), "reviewed", self.reviewed(item))
        self.render()
        return True

    def saveAndNext(self):
        """Saves, then shows the next micrograph not reviewed yet (in the list's order)."""
        if not self.save():
            return
        following = self.items[self.index + 1:] + self.items[:self.index]
        waiting = [item for item in following if item.stem not in self.reviews]
        if waiting:
            self.show(self.items.index(waiting[0]))

    def close(self):
        if self.leaveOk():
            self.root.destroy()

    # ------------------------------------------------------------------ editing
    def choose(self, code):
        self.code.set(code)
        if code not in (GOOD, UNSURE):
            self.badCode = code

    def remember(self):
        """Keeps the labels as they are for undo (a new edit drops what could be redone)."""
        self.undo = self.undo[1 - UNDO_LEVELS:] + [self.labels.copy()]
        self.redo = []

    def paint(self, change):
        change(ImageDraw.Draw(self.labels))
        self.render()

    def dab(self, start, end):
        """A brush stroke from ``start`` to ``end`` (working pixels), round at its end."""
        size, code = self.brush.get(), self.code.get()

        def draw(canvas):
            canvas.line([start, end], fill=code, width=size)
            canvas.ellipse([end[0] - size / 2, end[1] - size / 2, end[0] + size / 2, end[1] + size / 2], fill=code)
        self.paint(draw)

    def fillAll(self, code):
        self.remember()
        self.paint(lambda canvas: canvas.rectangle([0, 0, *self.labels.size], fill=code))

    def imagePoint(self, event):
        """The working-image point under the pointer (pixel centres at whole numbers, as PIL draws)."""
        return (self.canvas.canvasx(event.x) / self.zoom - 0.5, self.canvas.canvasy(event.y) / self.zoom - 0.5)

    def press(self, event):
        self.canvas.focus_set()
        point = self.imagePoint(event)
        self.stroke = [point]
        if self.tool.get() == "brush":
            self.remember()
            self.dab(point, point)

    def drag(self, event):
        if self.stroke is None:
            return
        point, last = self.imagePoint(event), self.stroke[-1]
        self.stroke.append(point)
        if self.tool.get() == "brush":
            self.dab(last, point)
        else:
            self.canvas.create_line(*((value + 0.5) * self.zoom for value in (*last, *point)),
                                    fill=OUTLINE_COLOUR, width=2, tags="outline")
        self.moveCursor(event)

    def release(self, event):
        """Ends a stroke; an outline is filled with the current label (closing it straight)."""
        outline, self.stroke = self.stroke, None
        self.canvas.delete("outline")
        if outline and self.tool.get() == "outline" and len(outline) >= 3:
            self.remember()
            self.paint(lambda canvas: canvas.polygon(outline, fill=self.code.get(), outline=self.code.get()))

    def undoEdit(self):
        if self.undo:
            self.redo.append(self.labels)
            self.labels = self.undo.pop()
            self.render()

    def redoEdit(self):
        if self.redo:
            self.undo.append(self.labels)
            self.labels = self.redo.pop()
            self.render()

    # ------------------------------------------------------------------ display
    def render(self):
        width, height = self.labels.size
        size = (max(1, round(width * self.zoom)), max(1, round(height * self.zoom)))
        picture = Image.fromarray(overlay(self.grey, np.asarray(self.labels))).resize(size, Image.NEAREST)
        self.photo = ImageTk.PhotoImage(picture, master=self.root)
        self.canvas.itemconfigure(self.picture, image=self.photo)
        self.canvas.configure(scrollregion=(0, 0, *size))
        item = self.current()
        self.status.configure(text="%d of %d · %s (%s) · %s%s · zoom %d%%" % (
            self.index + 1, len(self.items), item.name, item.stem,
            "reviewed" if item.stem in self.reviews else "not reviewed",
            " · unsaved edits" if self.unsaved() else "", round(100 * self.zoom)))

    def viewSize(self):
        """The canvas's size on screen (its requested size until it is mapped)."""
        width, height = self.canvas.winfo_width(), self.canvas.winfo_height()
        return (width, height) if width > 1 else CANVAS

    def fit(self):
        width, height = self.viewSize()
        self.zoom = min(width / self.labels.size[0], height / self.labels.size[1])
        self.render()
        self.canvas.xview_moveto(0)
        self.canvas.yview_moveto(0)

    def zoomBy(self, factor, x=None, y=None):
        """Zooms about the canvas point (x, y) (its centre by default), which stays where it is."""
        width, height = self.viewSize()
        x, y = width / 2 if x is None else x, height / 2 if y is None else y
        pointX, pointY = self.canvas.canvasx(x) / self.zoom, self.canvas.canvasy(y) / self.zoom
        self.zoom = min(max(self.zoom * factor, ZOOMS[0]), ZOOMS[1])
        self.render()
        self.canvas.xview_moveto((pointX * self.zoom - x) / (self.labels.size[0] * self.zoom))
        self.canvas.yview_moveto((pointY * self.zoom - y) / (self.labels.size[1] * self.zoom))

    def moveCursor(self, event):
        """The brush's outline follows the pointer, at its size on screen."""
        x, y, radius = self.canvas.canvasx(event.x), self.canvas.canvasy(event.y), self.brush.get() * self.zoom / 2
        shown = self.tool.get() == "brush"
        self.canvas.coords(self.cursor, *((x - radius, y - radius, x + radius, y + radius) if shown else (0,) * 4))
        self.canvas.tag_raise(self.cursor)
