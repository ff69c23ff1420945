"""The tag sets that ship with rehearsal (installed as `rehearsal_notations`)."""
