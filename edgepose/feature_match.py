"""Feature distillation: the student's outputs at named layers pulled towards the teacher's at the same layers.

A Ghost swap keeps every layer's name and output shape, so after it the original model's features at the replaced
layers are a dense target that needs no labels (FitNets-style hints, one per replaced layer). Forward hooks keep
those outputs during the training step; the loss is the mean over the layers of the relative squared error
||s - t||^2 / ||t||^2, so layers of any scale count alike.

Its weight is relative: on the first step, `weight` x (the output loss / the feature loss) is fixed as the scale,
so `weight` 1 starts the two terms equal whatever the heatmaps' magnitude. The scale is kept in the training's
resume state, so a resumed run goes on with the same one.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from edgepose.errors import UserError


class FeatureMatch:
    """Hooks on `names` in `student` and `teacher` (the same names, the same output shapes) and the loss between them."""

    def __init__(self, student: nn.Module, teacher: nn.Module, names: list[str], weight: float,
                 scale: float | None = None):  # fmt: skip
        self.names, self.weight, self.scale = list(names), weight, scale
        self._student: dict[str, Tensor] = {}
        self._teacher: dict[str, Tensor] = {}
        self._handles: list[Any] = []
        for name in self.names:
            try:
                mine, theirs = student.get_submodule(name), teacher.get_submodule(name)
            except AttributeError as error:
                raise UserError(f"feature distillation: no layer '{name}' in both the model and its teacher") from error
            self._handles.append(mine.register_forward_hook(_keep(self._student, name)))
            self._handles.append(theirs.register_forward_hook(_keep(self._teacher, name)))

    def loss(self, output_loss: Tensor) -> Tensor:
        """The weighted feature term for the step whose forward passes just ran (student, then teacher)."""
        terms = []
        for name in self.names:
            s, t = self._student.pop(name, None), self._teacher.pop(name, None)
            if s is None or t is None:
                raise UserError(f"feature distillation: layer '{name}' did not run in the model or its teacher")
            if s.shape != t.shape:
                raise UserError(f"feature distillation: layer '{name}' gives {tuple(s.shape)} in the model and "
                                f"{tuple(t.shape)} in its teacher; it needs layers that keep their shapes")  # fmt: skip
            t = t.detach()
            terms.append(((s - t) ** 2).mean() / (t**2).mean().clamp_min(1e-12))
        feature = sum(terms) / len(terms)
        if self.scale is None:
            self.scale = self.weight * float(output_loss.detach()) / max(float(feature.detach()), 1e-12)
        return self.scale * feature

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._student.clear()
        self._teacher.clear()


def _keep(store: dict[str, Tensor], name: str) -> Any:
    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        store[name] = output[0] if isinstance(output, list | tuple) else output

    return hook
