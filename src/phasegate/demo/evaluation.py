"""The demo's pilot evaluation: a small scikit-learn model trained on UCI Adult, scored with intervals.

Adult (Becker and Kohavi, 1996; CC BY 4.0) ships gzipped with phasegate. The demo writes its
train and test splits into the home folder, trains a logistic regression on the train split,
registers it as a trusted version of `income-prescreen`, and evaluates it on the test split by
sex and race against a one-line heuristic, so the pilot gate has real evidence to read. A second
version with balanced class weights is evaluated against the first and put in shadow behind it.
"""

from __future__ import annotations

import gzip
import io
from importlib import resources
from pathlib import Path
from typing import Any

from phasegate.client import ApiError, Client

USECASE = "income-prescreen"
MODEL = "income-logreg"
VERSION = "1.0.0"
CANDIDATE = "1.1.0"  # class weights balanced: more incomes above 50K found, at some cost in precision
LABEL = "income"
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "race", "sex"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


def write_splits(folder: Path) -> tuple[Path, Path]:
    """Adult's train and test splits as CSV; blanks become 'unknown', the test split gains a heuristic."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    train_path, test_path = folder / "adult-train.csv", folder / "adult-test.csv"
    if train_path.exists() and test_path.exists():
        return train_path, test_path
    raw = gzip.decompress(resources.files("phasegate.demo").joinpath("adult.csv.gz").read_bytes())
    frame = pd.read_csv(io.BytesIO(raw))
    frame[CATEGORICAL] = frame[CATEGORICAL].fillna("unknown")
    # The rule of thumb an analyst would use without a model: a degree means a higher income.
    frame["heuristic"] = frame["education_num"].map(lambda years: ">50K" if years >= 13 else "<=50K")
    frame[frame["split"] == "train"].drop(columns="split").to_csv(train_path, index=False)
    frame[frame["split"] == "test"].drop(columns="split").to_csv(test_path, index=False)
    return train_path, test_path


def train(train_path: Path, model_path: Path, *, balanced: bool = False) -> Path:
    """A one-hot logistic regression on the train split, saved with joblib; balanced weighs classes evenly."""
    import joblib
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(train_path)
    features = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("numbers", StandardScaler(), NUMERIC),
        ]
    )
    classifier = LogisticRegression(max_iter=1000, class_weight="balanced" if balanced else None)
    model = Pipeline([("features", features), ("classifier", classifier)])
    model.fit(frame[CATEGORICAL + NUMERIC], frame[LABEL])
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    return model_path


def load_evaluation(client: Client, home: Path) -> dict[str, Any] | None:
    """Train, register and evaluate the demo model once; the run, or None when it exists already."""
    if client.get(f"/usecases/{USECASE}/evaluations")["count"]:
        return None
    folder = home.resolve() / "demo"
    train_path, test_path = write_splits(folder)
    for source, path in (("adult-train", train_path), ("adult-test", test_path)):
        client.post(
            "/data/sources",
            {
                "id": source,
                "location": str(path),
                "owner": "m.rossi",
                "classification": "confidential",
                "usecases": [USECASE],
                "system": "UCI Adult (census 1994)",
            },
        )
    for version, balanced in ((VERSION, False), (CANDIDATE, True)):
        model_path = train(train_path, folder / "models" / f"{MODEL}-{version}.joblib", balanced=balanced)
        try:
            client.post(
                f"/usecases/{USECASE}/models",
                {
                    "name": MODEL,
                    "version": version,
                    "kind": "python",
                    "uri": str(model_path),
                    "trusted": True,
                    "training_data": "adult-train",
                    "parameters": {
                        "algorithm": "logistic regression",
                        "max_iter": 1000,
                        "class_weight": "balanced" if balanced else None,
                    },
                },
            )
        except ApiError as exc:
            if exc.status != 409:
                raise
    common = {"data": "adult-test", "label": LABEL, "segments": ["sex", "race"]}
    run: dict[str, Any] = client.post(
        f"/usecases/{USECASE}/evaluations", {**common, "model": VERSION, "baseline_prediction": "heuristic"}
    )
    # The candidate against the version it would replace, on the same records.
    client.post(f"/usecases/{USECASE}/evaluations", {**common, "model": CANDIDATE, "baseline": VERSION})
    reach_the_pilot(client)
    # Shadow needs no gate: the candidate sees live requests, answers nobody, and its agreement is logged.
    client.put(
        f"/usecases/{USECASE}/rollout", {"stage": "shadow", "primary": VERSION, "candidate": CANDIDATE}
    )
    return run


# phasegate came to this use case at its pilot: the data audit and the prioritisation were done on paper
# before, so the demo advances over those two gates with that reason (recorded as override decisions),
# and the pilot's gate is the first one decided on evidence phasegate collected itself.
BEFORE_PHASEGATE = "done on paper before phasegate was adopted (demo)"


def reach_the_pilot(client: Client) -> None:
    """Advance the demo plan over its first two gates, with the reason above, unless it is past them."""
    for _ in range(2):
        phases = client.get(f"/usecases/{USECASE}/plan")["phases"]
        active = next((p["id"] for p in phases if p["status"] == "active"), None)
        if active not in ("data-audit", "prioritization"):
            return
        client.post(f"/usecases/{USECASE}/phase/advance", {"override_reason": BEFORE_PHASEGATE})
