"""Text signals shared by the stages after parsing: phrase matching with negation,
sentences, urgency, deadlines and asks. Pure functions over `str`, no I/O."""
