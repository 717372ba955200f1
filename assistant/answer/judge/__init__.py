"""Judgements about an answer, each fitted on data with its weights beside it (calibration/):
- sentence:   which sentence of the answering paper answers (a logistic ranker);
- answerable: answer, say the named paper's abstract does not state it, or refuse;
- papers:     which retrieved papers a list answer includes;
- verdict:    yes, no or "the abstracts do not settle it", from the fitted rule and/or the model;
- polar, injection, model_answer, styles: is it a yes/no question; text addressed to a model; whether a
  model-written answer is kept; which models write.
train.py fits the first four from bench/data/qa (python -m assistant.answer.judge.train); learned.py loads them.
"""
