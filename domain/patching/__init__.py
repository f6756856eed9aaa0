"""The patch engine: pure functions that apply patch operations to a file tree.

Nothing here reads a database or a disk: callers hand in the tree (path → blob hash),
the contents the operations need, and the limits; the engine hands back the net file
changes and the new blobs, or a `PatchRejection` that says what is wrong and where.
"""
