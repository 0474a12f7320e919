"""A checkpoint saved at an epoch's end, read back as Lightning reads it right: its epoch counted once.

Lightning's `last.ckpt` of a run that stopped at an epoch's end (`on_train_epoch_end`) resumes wrongly in two
cases (Lightning issue #19617, open), which a `trainer.max_epochs` bound then shows:
- the epoch was whole and the resumed run sets `trainer.max_steps`: Lightning restarts "on the epoch's end" and
  counts that epoch again: `max_steps=16 max_epochs=2` after one epoch trained nothing, any `max_epochs` ended the
  run an epoch early;
- `trainer.max_steps` cut the epoch short (it ends an epoch there too): with `max_steps` set again Lightning went
  on with the rest of the epoch but counted it twice; without, it left the rest of it out.
Here the whole epoch reads as finished (as Lightning reads it without `max_steps`) and the cut one as cut
mid-epoch (as a signal's checkpoint is), so the resumed run trains what the uninterrupted one would.
"""


def count_saved_epoch_once(checkpoint: dict, max_steps: int) -> None:
    """Rewrite the loop state of `checkpoint`, if it was saved at an epoch's end, for a run resumed under
    `max_steps` (-1: none)."""
    fit = checkpoint.get("loops", {}).get("fit_loop")
    if not fit:
        return
    epochs, batches = fit["epoch_progress"], fit["epoch_loop.batch_progress"]
    if epochs["current"]["processed"] != epochs["current"]["completed"] + 1:  # saved within an epoch: read right
        return
    if not batches["is_last_batch"]:  # cut short by max_steps: the epoch goes on where it stopped
        for tracker in epochs.values():
            tracker["processed"] -= 1
    elif max_steps != -1:  # whole, under max_steps: finished, the next epoch's batches from the first
        for tracker in epochs.values():
            tracker["completed"] = tracker["processed"]
        batches["current"] = dict.fromkeys(batches["current"], 0)
        batches["is_last_batch"] = False
        # Lightning counts one more batch stepped when it restarts (for a checkpoint saved before that count):
        # this one was saved after it.
        fit["epoch_loop.state_dict"]["_batches_that_stepped"] -= 1
