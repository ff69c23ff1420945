"""rehearsal: record rehearsals, tag moments live, curate datasets, train the next model.

Data flows one way: input sources -> marker bus -> store; store -> curation -> dataset ->
strategy -> model generation. Nothing in this package imports torch at import time.
"""

__version__ = "0.1.0"
