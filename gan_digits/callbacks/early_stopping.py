"""Lightning's EarlyStopping, except that a resumed run keeps the patience its config gives.

Lightning restores `patience` with the rest of the callback's state, so resuming a run that
stopped early with more patience (`callbacks.early_stopping.patience=10`) would stop again after
one epoch, the new value silently ignored. The count of validations without a new best, the best
value and the reason of a past stop are restored as Lightning restores them.
"""

from typing import Any

from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping


class EarlyStopping(LightningEarlyStopping):
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        patience = self.patience
        super().load_state_dict(state_dict)
        self.patience = patience
