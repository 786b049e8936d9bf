"""Prepared data: images resized once into memory-mapped uint8 shards (``cxrvlp data prepare``), read back through
the ``prepared`` adapter with the same :class:`~cxrvlp.data.study.Study` records as the raw layout.

The writer lives in :mod:`cxrvlp.data.prepared.prepare` (it imports the adapter registry, which imports this
package's reader, so it is not imported here).
"""
from cxrvlp.data.prepared.format import ShardRef, read_image
from cxrvlp.data.prepared.reader import prepared_label_names, read_prepared

__all__ = ["ShardRef", "prepared_label_names", "read_image", "read_prepared"]
