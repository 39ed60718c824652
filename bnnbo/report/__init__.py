"""Reports on a stored study: plots (matplotlib), tables and one self-contained HTML file.

``write_report(url, study, out)`` is the entry point (``bnnbo report`` and ``bnnbo demo``
call it). Data flows one way: the store is only read.
"""

from bnnbo.report.writer import all_tables, write_report

__all__ = ["all_tables", "write_report"]
