"""The judge: a weights-free analytic evaluator of MovingShapes videos (see `analysis.py`).

`analysis.analyze(video)` says what a clip shows, `scoring.score(analysis, target)` checks it
against what was stated, `scoring.judge(video, target)` does both; `selftest.py` measures the
judge on rendered ground truth (`python -m minisora.world.judge.selftest --selftest`).
"""

from minisora.world.judge.analysis import analyze
from minisora.world.judge.objects import Analysis, SeenObject
from minisora.world.judge.scoring import JudgeResult, judge, score

__all__ = ["Analysis", "JudgeResult", "SeenObject", "analyze", "judge", "score"]
