"""(Session 8 exploration, not part of the product; run from the repository root as python -m training.experiments.<name>.)
Rule v25 exploration: additive cubic-spline logistic ensemble (candidate g), via ds1_protocol."""
import sys, os
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import app.model.ensemble as E
import training.calibrate as TC
import training.ds1_protocol as P

QS = (0.0, 0.5, 0.9, 0.99, 1.0)
_orig_logit = E.logistic_logit


def basis(Z, spl):
    cols = []
    for j, s in enumerate(spl):
        cols.append(Z[:, [j]] if s is None else s.transform(Z[:, [j]]))
    return np.hstack(cols)


def fit_spline(X, y, names, C=1.0, seed=0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import SplineTransformer
    mean, sd = X.mean(axis=0), X.std(axis=0) + 1e-9
    Z = (X - mean) / sd
    spl = []
    for j in range(Z.shape[1]):
        k = np.unique(np.quantile(Z[:, j], QS))
        if len(k) < 3:
            spl.append(None)
            continue
        spl.append(SplineTransformer(degree=3, knots=k.reshape(-1, 1), extrapolation="constant",
                                     include_bias=False).fit(Z[:, [j]]))
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=seed)
    lr.fit(basis(Z, spl), y.astype(int))
    return {"features": list(names), "mean": mean.tolist(), "sd": sd.tolist(), "rule": "spline",
            "_spl": spl, "_lr": lr}


def logit(scores, weights):
    if weights.get("rule") != "spline":
        return _orig_logit(scores, weights)
    X = E.feature_matrix(scores, weights["features"])
    Z = (X - np.asarray(weights["mean"])) / np.asarray(weights["sd"])
    return weights["_lr"].decision_function(basis(Z, weights["_spl"]))


TC.fit_ensemble = fit_spline
E.logistic_logit = logit
sys.exit(P.main(sys.argv[1:]))
