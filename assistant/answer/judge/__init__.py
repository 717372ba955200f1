"""Judgements about an answer, each with its calibration data beside it (calibration/):
- polar:   is this a yes/no question?
- verdict: yes, no or "the abstracts do not settle it", from rules over the deciding sentence and/or the model;
- fit:     does the chosen sentence answer what was asked, or only share a topic word with it?
"""
