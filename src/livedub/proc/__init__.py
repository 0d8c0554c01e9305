"""Child-process helpers shared by every component that supervises another program."""
