"""Sentence classification data: the readers, which give a ``datasets.Dataset`` plus its label names.

Every reader returns a :class:`LabelledSplit` whose dataset has the columns ``text`` (str),
``label`` (int, an index into ``labels``; a ``ClassLabel`` feature) and ``line`` (the 1-based
line of the row in its source file, or the 0-based row index for hub data), so that any
prediction or error can be traced back to the input.

- :func:`read_table`: csv / tsv / JSON lines files, loaded (cached, memory-mapped) by ``datasets``.
- :func:`read_sst_trees`: Stanford Sentiment Treebank PTB trees, 5 or 3 classes.
- :func:`read_tweeteval`: the TweetEval ``{split}_text.txt`` / ``{split}_labels.txt`` layout.
- :func:`read_hub`: a Hugging Face hub dataset; fails at once, with a pointer to local files, offline.
- :func:`stratified_split` and :func:`cap`: carve a validation set, keep the first N rows.

Rows with empty text are skipped with a warning that names their lines; every other problem
(unknown or missing label, missing column, malformed line) is a ValueError naming the file and line.
"""

from elmo_tasks.core.errors import HubUnavailableError
from elmo_tasks.data.hub import hub_source, read_hub, split_from_hub_dataset
from elmo_tasks.data.labelled import LabelledSplit, aligned, cap, stratified_split
from elmo_tasks.data.sst_trees import (
    SST3_LABELS,
    SST5_LABELS,
    parse_sst_tree,
    read_sst_trees,
)
from elmo_tasks.data.tables import read_table
from elmo_tasks.data.tweeteval import read_tweeteval

__all__ = [
    "HubUnavailableError",
    "SST3_LABELS",
    "SST5_LABELS",
    "LabelledSplit",
    "aligned",
    "cap",
    "hub_source",
    "parse_sst_tree",
    "read_hub",
    "read_sst_trees",
    "read_table",
    "read_tweeteval",
    "split_from_hub_dataset",
    "stratified_split",
]
