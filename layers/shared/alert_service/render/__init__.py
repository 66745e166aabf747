"""Channel layouts: each module turns a ``View`` into one channel's payload."""
