"""The canonical dataset format (docs/data-format.md): its schema, the reader and its checks.

``schema`` (names, ``dataset.json``, writing), ``parquet`` (the Parquet primitives), ``dataset`` (the
``Dataset`` type), ``observations`` (the checked row stream), ``reader`` (``load_dataset``), ``checks`` and
``consistency`` (what the reader checks), ``validate`` (``social-xlstm validate``), ``freq``, ``geo``.
"""
