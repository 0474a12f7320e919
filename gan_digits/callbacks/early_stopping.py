"""Lightning's EarlyStopping, except that it checks after each validation and a resumed run keeps the
patience its config gives.

Lightning checks at the training epoch's end when a validation comes every epoch, and an epoch that
`trainer.max_steps` cuts short ends without one (a stop by `max_time` validates first):
before the first validation the run stopped with a RuntimeError (the metric is not there yet) and lost
its training, and after one it counted the last validation's value again. Checking when each
validation ends reads every value once.

Lightning restores `patience` with the rest of the callback's state, so resuming a run that
stopped early with more patience (`callbacks.early_stopping.patience=10`) would stop again after
one epoch, the new value silently ignored. The count of validations without a new best, the best
value and the reason of a past stop are restored as Lightning restores them.
"""

from typing import Any

from lightning.pytorch.callbacks import EarlyStopping as LightningEarlyStopping


class EarlyStopping(LightningEarlyStopping):
    def __init__(self, *args, check_on_train_epoch_end: bool = False, **kwargs):
        super().__init__(*args, check_on_train_epoch_end=check_on_train_epoch_end, **kwargs)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        patience = self.patience
        super().load_state_dict(state_dict)
        self.patience = patience
