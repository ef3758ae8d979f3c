"""`cwmb bench`: the job matrix method x environment x seed, run end to end (see run.py)."""
