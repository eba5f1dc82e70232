"""Export a pretrained biLM in the published ELMo format, from a module or a checkpoint.

    elmo-tasks pretrain-export checkpoint=outputs/runs/<run>/checkpoints/last.ckpt export_dir=my_elmo/

writes ``my_elmo/options.json`` + ``my_elmo/weights.hdf5`` (loadable by ``ElmoBiLm`` /
``Elmo`` / AllenNLP, ``n_characters`` 262 as for inference), ``vocab.txt`` (the output
vocabulary, one token per line) and ``pretrain_info.json`` (corpus, steps, perplexity).
The softmax is not exported: ELMo users only need the biLM.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from elmo_tasks.core.atomic import atomic_write_text
from elmo_tasks.core.checkpoint_io import load_checkpoint
from elmo_tasks.core.litter import remove_stale_temporaries
from elmo_tasks.elmo.weights import save_elmo
from elmo_tasks.pretraining.language_model import BiLmPretrainer
from elmo_tasks.pretraining.text import write_vocabulary

log = logging.getLogger(__name__)


def export_pretrained(
    module: BiLmPretrainer, export_dir: str | Path, info: dict[str, Any] | None = None
) -> Path:
    """Write the four export files of ``module`` into ``export_dir``; returns the folder."""
    export_dir = Path(export_dir).expanduser()
    export_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(export_dir)  # left by an export that was killed
    save_elmo(module.bilm, export_dir / "options.json", export_dir / "weights.hdf5")
    write_vocabulary(module.vocabulary, export_dir / "vocab.txt")
    val = module.last_val
    details = {
        "train_files": module.corpus.get("train_files", []),
        "validation_files": module.corpus.get("validation_files", []),
        "vocab_size": len(module.vocabulary),
        "softmax": module.hparams.get("softmax"),
        "val_ppl": val.get("val/ppl"),
        "val_ppl_forward": val.get("val/ppl_forward"),
        "val_ppl_backward": val.get("val/ppl_backward"),
        "test_files": module.corpus.get("test_files", []),
        "test_ppl": module.last_test.get("test/ppl"),
        "test_ppl_forward": module.last_test.get("test/ppl_forward"),
        "test_ppl_backward": module.last_test.get("test/ppl_backward"),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **(info or {}),
    }
    atomic_write_text(export_dir / "pretrain_info.json", json.dumps(details, indent=2) + "\n")
    log.info("exported the biLM to %s", export_dir)
    return export_dir


def export_checkpoint(checkpoint: str | Path, export_dir: str | Path) -> Path:
    """Export the biLM saved in a pretraining checkpoint, verified first (its ``.sha256``,
    readable, finite weights)."""
    if Path(checkpoint).expanduser().is_file():
        load_checkpoint(Path(checkpoint).expanduser(), skip="verify=false")
    module = BiLmPretrainer.from_checkpoint(checkpoint)
    info = {"steps": module.global_step_at_save, "checkpoint": str(Path(checkpoint).resolve())}
    return export_pretrained(module, export_dir, info)
