"""Judgements about an answer, each fitted on data with its weights beside it (calibration/):
- sentence:        which sentence of the answering paper answers (boosted trees; literature_sentence for the quote
                   of each paper in a literature answer);
- answerable:      answer, say the named paper's abstract does not state it, or refuse;
- followup:        in a conversation, continue the previous paper or start a new topic;
- papers:          which retrieved papers a list (papers) or literature answer (literature_papers) includes, and
                   which paper each part of a compare question finds (compare_papers);
- verdict:         yes, no or "the abstracts do not settle it", from the fitted rule and/or the model;
- polar:           does the question want a yes or no (its shape);
- literature_kind: one paper, or the literature as a survey, compare or consensus (its shape);
- injection, model_answer, styles: text addressed to a model; whether a model-written answer is kept; which models
  write.
train.py fits them from bench/data/qa (python -m assistant.answer.judge.train; data.py reads and splits the data,
fit_questions.py fits the two read off the question's shape, fit_papers.py the paper decisions and the literature
quote ranker, fitting.py holds the shared fits and their export); learned.py loads them.
"""
