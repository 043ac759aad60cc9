"""The plugin's own Scipion object: a MicrographCleaner model made in the project (pwem finds it here)."""
import json
import os

from pwem.objects import EMFile
from pyworkflow.object import Float, String


class MicrographCleanerModel(EMFile):
    """A fine-tuned model: its ``.keras`` file (the card ``.json`` beside it), its classes, working
    range and the held-out figures of its fine-tuning, so that a screen run can use it and say so."""

    def __init__(self, filename=None, **kwargs):
        EMFile.__init__(self, filename, **kwargs)
        self._modelName = String()  # the card's name, which the engine writes in every summary
        self._classes = String()  # comma separated, "bad" (any class) first
        self._workingSide = String()  # "low-high" working px, empty when the model keeps no range
        self._kept = String()  # "fine-tuned", or "starting model" when fine-tuning did not do better
        self._heldOutBefore = Float()  # held-out bad-region IoU of the starting model
        self._heldOutAfter = Float()  # and of the fine-tuned one
        self._madeBy = String()  # the name of the fine-tune run that made it

    def cardPath(self):
        return os.path.splitext(self.getFileName())[0] + ".json"

    def readCard(self, madeBy):
        """Fills the attributes from the model's card; ``madeBy`` names the run that made it."""
        self._madeBy.set(madeBy)
        with open(self.cardPath()) as stream:
            card = json.load(stream)
        self._modelName.set(card["name"])
        self._classes.set(",".join(card.get("classes") or ["bad"]))
        side = card.get("working_side")
        self._workingSide.set("%g-%g" % tuple(side) if side else "")
        tuning = card.get("fine_tuning") or {}
        self._kept.set(tuning.get("kept"))
        for attribute, when in ((self._heldOutBefore, "before"), (self._heldOutAfter, "after")):
            attribute.set((tuning.get(when) or {}).get("bad_iou"))

    def getModelName(self):
        return self._modelName.get()

    def getClasses(self):
        return (self._classes.get() or "bad").split(",")

    def getMadeBy(self):
        return self._madeBy.get()

    def getKept(self):
        return self._kept.get()

    def getHeldOut(self):
        """Held-out bad-region IoU before and after fine-tuning (None where not measured)."""
        return self._heldOutBefore.get(), self._heldOutAfter.get()

    def __str__(self):
        before, after = self.getHeldOut()
        figures = "" if after is None else ", held-out IoU %.2f -> %.2f" % (before or 0, after)
        return "MicrographCleaner model %s (%s%s)" % (self.getModelName(), self.getKept() or "trained", figures)
