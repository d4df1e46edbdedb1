"""Synthetic customers with known true effects, for the sample data and the tests.

The generator is a small structural model, documented in ``data/README.md``:

* plan, region, tenure drive both the CX latent score and the outcomes (confounding), so a naive
  comparison of promoters and passives is biased and the covariate-adjusted one is not;
* five touchpoint items ``driver_*`` drive the latent score with known weights;
* spend, churn and returns depend on the NPS *category* with known effects (:class:`Truth`),
  on the scales the models report: spend ratio, churn log-odds shift, returns rate ratio.

Every outcome model is correctly specified for the default covariates (plan, region,
tenure_months), so recovery tests can compare estimates with :func:`true_effects`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = [
    "Truth",
    "TRUTH",
    "make_customers",
    "RESPONSE_RATES",
    "make_clustered",
    "true_effects",
    "true_outcomes",
    "TOPICS",
    "TOPICS_BY_LANGUAGE",
    "COMMENT_LANGUAGES",
    "truth_table",
    "SURVEY_QUESTIONS",
    "SURVEY_MAPPING",
    "SurveySample",
    "make_survey_sample",
    "write_qualtrics",
    "write_surveymonkey",
    "write_survey_sample",
]

PLANS = np.array(["Basic", "Plus", "Pro"])
REGIONS = np.array(["North", "South", "East", "West"])
JOBS = np.array(["Analyst", "Engineer", "Manager", "Director", "Owner"])
DRIVERS = ("driver_delivery", "driver_support", "driver_product", "driver_price", "driver_website")


@dataclass(frozen=True)
class Truth:
    """The generator's true parameters. Effects are relative to passives.

    ``effect_scale`` multiplies every CX effect on the model scale (log or logit); 0 gives data
    in which CX has no effect on any outcome.
    """

    spend_ratio_promoter: float = 1.20
    spend_ratio_detractor: float = 0.85
    churn_logodds_promoter: float = -0.60
    churn_logodds_detractor: float = 0.55
    returns_ratio_promoter: float = 0.75
    returns_ratio_detractor: float = 1.30
    effect_scale: float = 1.0
    # baseline (passive, Basic, North, tenure 0)
    spend_base: float = 300.0
    spend_plan: tuple[float, float, float] = (0.0, 0.4, 0.9)  # log scale, Basic/Plus/Pro
    spend_region: tuple[float, float, float, float] = (0.0, 0.05, -0.05, 0.10)
    spend_tenure: float = 0.004  # per month, log scale
    spend_gamma_shape: float = 2.0
    spend_zero_prob: float = 0.03  # dormant accounts, independent of everything
    churn_base: float = -1.6
    churn_plan: tuple[float, float, float] = (0.0, -0.3, -0.6)
    churn_region: tuple[float, float, float, float] = (0.0, 0.1, 0.0, -0.1)
    churn_tenure: float = -0.015
    returns_base: float = 0.08  # probability that an order is returned
    returns_plan: tuple[float, float, float] = (0.0, -0.1, -0.2)
    returns_frailty_var: float = 1 / 3  # gamma frailty: overdispersion
    cx_plan: tuple[float, float, float] = (0.0, 0.35, 0.6)
    cx_tenure: float = 0.008
    cx_quarter_trend: float = 0.06  # latent shift per quarter
    driver_weights: tuple[float, ...] = (0.5, 0.4, 0.3, 0.2, 0.1)  # order of DRIVERS

    def coef(self, name: str) -> float:
        """Effect on the model scale (log or logit), after ``effect_scale``."""
        values = {
            "spend_promoter": np.log(self.spend_ratio_promoter),
            "spend_detractor": np.log(self.spend_ratio_detractor),
            "churn_promoter": self.churn_logodds_promoter,
            "churn_detractor": self.churn_logodds_detractor,
            "returns_promoter": np.log(self.returns_ratio_promoter),
            "returns_detractor": np.log(self.returns_ratio_detractor),
        }
        return float(values[name] * self.effect_scale)


TRUTH = Truth()

# Planted comment topics: (name, vocabulary). Comments mix 4-7 topic words with filler words.
TOPICS: dict[str, list[str]] = {
    "late delivery": ["late", "delivery", "arrived", "waited", "shipping", "delayed", "parcel"],
    "rude support": ["rude", "support", "agent", "unhelpful", "hold", "ticket", "call"],
    "high prices": ["expensive", "price", "pricing", "fees", "cheaper", "cost", "overpriced"],
    "friendly service": ["friendly", "helpful", "staff", "excellent", "service", "kind", "quick"],
    "product quality": ["quality", "durable", "reliable", "product", "sturdy", "perfectly", "works"],
    "app problems": ["app", "crashes", "login", "website", "bug", "checkout", "freezes"],
}
_TOPIC_NAMES = list(TOPICS)
# P(topic | category): promoters / passives / detractors
_TOPIC_PROBS = {
    "promoter": [0.04, 0.04, 0.08, 0.42, 0.36, 0.06],
    "passive": [0.15, 0.12, 0.25, 0.18, 0.15, 0.15],
    "detractor": [0.30, 0.28, 0.20, 0.03, 0.04, 0.15],
}
_FILLER = ["the", "really", "very", "was", "my", "and", "it", "so", "again", "always"]
#: The same six topics in Portuguese, Spanish and German (keys as in :data:`TOPICS`). Items may be
#: phrases: a negated one ("não foi entregue") plants a complaint whose positive twin ("entregue no
#: prazo") belongs to another topic, so themes must keep the negation to tell them apart.
TOPICS_BY_LANGUAGE: dict[str, dict[str, list[str]]] = {
    "en": TOPICS,
    "pt": {
        "late delivery": ["entrega", "atrasada", "não foi entregue", "esperei", "pacote", "atrasou", "não chegou"],
        "rude support": ["atendente", "grosseiro", "suporte", "espera", "ligação", "chamado", "demorado"],
        "high prices": ["caro", "preço", "taxas", "frete", "barato", "custo", "abusivo"],
        "friendly service": ["atendimento", "simpático", "prestativo", "equipe", "excelente", "entregue no prazo",
                             "gentil"],
        "product quality": ["qualidade", "durável", "resistente", "produto", "ótimo", "funciona", "perfeitamente"],
        "app problems": ["aplicativo", "trava", "login", "site", "erro", "pagamento", "lento"],
    },
    "es": {
        "late delivery": ["entrega", "retrasada", "no recibí", "esperé", "paquete", "envío", "demora"],
        "rude support": ["agente", "grosero", "soporte", "llamada", "reclamo", "espera", "maleducado"],
        "high prices": ["caro", "precio", "comisiones", "barato", "costo", "abusivo", "tarifas"],
        "friendly service": ["amable", "servicial", "personal", "excelente", "servicio", "recibí a tiempo", "atento"],
        "product quality": ["calidad", "duradero", "resistente", "producto", "fiable", "funciona", "perfectamente"],
        "app problems": ["aplicación", "falla", "contraseña", "página", "error", "pago", "lenta"],
    },
    "de": {
        "late delivery": ["lieferung", "verspätet", "nicht geliefert", "gewartet", "paket", "versand", "tagelang"],
        "rude support": ["kundenservice", "unfreundlich", "mitarbeiter", "hotline", "warteschleife", "ticket",
                         "anruf"],
        "high prices": ["teuer", "preis", "gebühren", "versandkosten", "billiger", "kosten", "überteuert"],
        "friendly service": ["freundlich", "hilfsbereit", "personal", "ausgezeichnet", "service",
                             "pünktlich geliefert", "nett"],
        "product quality": ["qualität", "langlebig", "zuverlässig", "produkt", "stabil", "einwandfrei",
                            "funktioniert"],
        "app problems": ["app", "stürzt", "anmeldung", "webseite", "fehler", "bezahlung", "hängt"],
    },
}
#: Languages :func:`make_customers` can write comments in.
COMMENT_LANGUAGES = tuple(TOPICS_BY_LANGUAGE)
# filler words: the language's commonest function words (stop words, never theme labels)
_FILLERS = {
    "en": _FILLER,
    "pt": ["o", "a", "muito", "foi", "meu", "e", "que", "para", "com", "um"],
    "es": ["el", "la", "muy", "fue", "mi", "y", "que", "para", "con", "un"],
    "de": ["der", "die", "sehr", "war", "mein", "und", "das", "für", "mit", "ein"],
}
_ODD = ["ok", "fine", "good", "meh", "no comment", "muy bueno", "sehr schlecht", "très bien",
        "非常好", "👍", "..."]


def _cx_category(score: np.ndarray) -> np.ndarray:
    return np.where(score >= 9, "promoter", np.where(score <= 6, "detractor", "passive"))


def _design_values(t: Truth, plan_idx, region_idx, tenure):
    """Linear predictors for a passive (CX effects added by the caller)."""
    spend = (np.log(t.spend_base) + np.asarray(t.spend_plan)[plan_idx]
             + np.asarray(t.spend_region)[region_idx] + t.spend_tenure * tenure)
    churn = (t.churn_base + np.asarray(t.churn_plan)[plan_idx]
             + np.asarray(t.churn_region)[region_idx] + t.churn_tenure * tenure)
    returns = np.log(t.returns_base) + np.asarray(t.returns_plan)[plan_idx]
    return spend, churn, returns


def _comment_bank(rng: np.random.Generator, per_topic: int = 300, language: str = "en") -> dict[str, np.ndarray]:
    bank = {}
    for name, vocab in TOPICS_BY_LANGUAGE[language].items():
        texts = []
        for _ in range(per_topic):
            k = rng.integers(4, 8)
            words = list(rng.choice(vocab, size=k, replace=True))
            for _ in range(rng.integers(0, 3)):
                words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(_FILLERS[language])))
            texts.append(" ".join(words).capitalize())
        bank[name] = np.array(texts, dtype=object)
    return bank


def _comment_languages(languages) -> tuple[list[str], np.ndarray]:
    """Validated ``comment_languages``: codes and their probabilities."""
    if isinstance(languages, str):
        languages = (languages,)
    weights = dict(languages) if isinstance(languages, Mapping) else {code: 1.0 for code in languages}
    unknown = [c for c in weights if c not in TOPICS_BY_LANGUAGE]
    if not weights or unknown or any(not np.isfinite(w) or w < 0 for w in weights.values()) \
            or sum(weights.values()) <= 0:
        raise ValueError(f"comment_languages must name languages from {list(COMMENT_LANGUAGES)} (with "
                         f"non-negative weights, not all zero); got {languages!r}.")
    p = np.array(list(weights.values()), dtype=float)
    return list(weights), p / p.sum()


def make_customers(
    n_customers: int = 5000,
    n_quarters: int = 4,
    *,
    start: str = "2025Q4",
    truth: Truth = TRUTH,
    random_state: int = 20260101,
    include_truth: bool = False,
    comment_languages: Sequence[str] | Mapping[str, float] = ("en",),
    response_rates: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Simulate ``n_customers`` customers over ``n_quarters`` quarters.

    Parameters
    ----------
    n_customers : int
        Customers per quarter. Customers who churn are replaced the next quarter by new ones.
    n_quarters : int
        Number of consecutive quarters, starting at ``start``.
    start : str
        First quarter, ``YYYYQn``.
    truth : Truth
        True parameters (``Truth(effect_scale=0)`` for data where CX has no effect).
    random_state : int
        Seed; the output is a deterministic function of all arguments.
    include_truth : bool
        Add ``_topic`` (planted comment topic, "" when none), ``_language`` (language of a planted
        comment, "" when none) and ``_latent`` (CX latent).
    comment_languages : sequence of str, or mapping of str to float
        Languages of the planted comments, from :data:`COMMENT_LANGUAGES` (``en, pt, es, de``):
        each commenting customer writes in one of them, with equal probability or the weights
        given (``{"pt": 0.8, "es": 0.2}``). The same six topics are planted in every language
        (:data:`TOPICS_BY_LANGUAGE`). Languages are drawn from a random stream of their own, so
        every other column is the same whatever the languages; the default (English only) gives
        the comments of earlier versions.
    response_rates : mapping of plan to probability, optional
        The whole base with non-respondents: each customer-quarter answers the survey with the
        probability of its plan (e.g. :data:`RESPONSE_RATES`, where Pro customers answer eight
        times as often as Basic ones); the others keep their CRM columns but have no
        ``nps_score``, ``csat``, ``ces``, ``comment`` or ``driver_*``. Drawn from a random stream of
        their own, so every other column is the same as without. None (default): everyone answers.
        With ``include_truth``, ``_nps_score`` keeps every customer's score (answered or not) and
        ``_responded`` says who answered.

    Returns
    -------
    DataFrame
        One row per customer per quarter, in the canonical columns (DESIGN.md).

    Examples
    --------
    >>> df = make_customers(200, 2, random_state=1)
    >>> df.groupby("quarter").size().tolist()
    [200, 200]
    """
    rng = np.random.default_rng(random_state)
    t = truth
    n = n_customers
    year, q = int(start[:4]), int(start[-1])
    bank = _comment_bank(rng)
    langs, lang_p = _comment_languages(comment_languages)
    # a stream of its own: the languages leave every other draw (and column) unchanged
    lang_rng = np.random.default_rng([random_state, 14])
    banks = {code: _comment_bank(lang_rng, language=code) for code in langs if code != "en"}

    def new_customers(m: int, first_id: int, tenure_max: float = 120):
        return {
            "id": np.arange(first_id, first_id + m),
            "plan": rng.choice(3, size=m, p=[0.5, 0.3, 0.2]),
            "region": rng.choice(4, size=m),
            "job": rng.choice(len(JOBS), size=m, p=[0.3, 0.25, 0.25, 0.1, 0.1]),
            "age": np.clip(np.rint(rng.normal(41, 12, size=m)), 18, 85),
            "tenure": np.minimum(np.floor(rng.exponential(20, size=m)), tenure_max),
            "cv_noise": rng.lognormal(0, 0.3, size=m),
        }

    cust = new_customers(n, 100001)
    next_id = 100001 + n
    frames = []
    for k in range(n_quarters):
        quarter = f"{year}Q{q}"
        plan, region, tenure = cust["plan"], cust["region"], cust["tenure"]
        # touchpoint items and the CX latent
        g = rng.normal(size=n)
        z = 0.5 * g[:, None] + np.sqrt(0.75) * rng.normal(size=(n, len(DRIVERS)))
        drivers = np.clip(np.rint(7 + 1.5 * z), 1, 10)
        latent = (np.asarray(t.cx_plan)[plan] + t.cx_tenure * tenure + t.cx_quarter_trend * k
                  + z @ np.asarray(t.driver_weights) + rng.normal(0, 0.8, size=n))
        nps = np.clip(np.floor(7.7 + 1.55 * latent), 0, 10).astype(int)
        cat = _cx_category(nps)
        is_p, is_d = (cat == "promoter").astype(float), (cat == "detractor").astype(float)
        csat = np.clip(np.rint(3.5 + 0.75 * latent + rng.normal(0, 0.6, size=n)), 1, 5)
        ces = np.clip(np.rint(4.8 + 0.9 * latent + rng.normal(0, 0.9, size=n)), 1, 7)
        # outcomes
        eta_s, eta_c, eta_r = _design_values(t, plan, region, tenure)
        mu = np.exp(eta_s + t.coef("spend_promoter") * is_p + t.coef("spend_detractor") * is_d)
        spend = rng.gamma(t.spend_gamma_shape, mu / t.spend_gamma_shape)
        spend = np.where(rng.random(n) < t.spend_zero_prob, 0.0, np.round(spend, 2))
        p_churn = expit(eta_c + t.coef("churn_promoter") * is_p + t.coef("churn_detractor") * is_d)
        churned = (rng.random(n) < p_churn).astype(int)
        orders = 1 + rng.poisson(2.0 + np.array([0.0, 1.0, 2.0])[plan])
        frailty = rng.gamma(1 / t.returns_frailty_var, t.returns_frailty_var, size=n)
        p_ret = np.minimum(
            np.exp(eta_r + t.coef("returns_promoter") * is_p + t.coef("returns_detractor") * is_d)
            * frailty, 0.9)
        returns = rng.binomial(orders, p_ret)
        tickets = rng.poisson(0.6 + 0.8 * is_d + 0.2 * (plan == 0))
        support_cost = np.round(tickets * 25 * rng.lognormal(0, 0.2, size=n), 2)
        contract_value = np.round(4 * t.spend_base * np.exp(np.asarray(t.spend_plan)[plan])
                                  * cust["cv_noise"], -1)
        visits = rng.poisson(np.exp(1.0 + 0.3 * plan + 0.15 * latent))
        fcr = np.where(tickets > 0, (rng.random(n) < 0.55 + 0.2 * (latent > 0)).astype(float), np.nan)
        due = (tenure % 12) < 3
        renewed = np.where(due, 1.0 - churned, np.nan)
        trial = np.where(tenure < 3, (rng.random(n) < 0.35 + 0.2 * is_p).astype(float), np.nan)
        # comments: 70% answer; a few are very short or in another language
        probs = np.array([_TOPIC_PROBS[c] for c in ("promoter", "passive", "detractor")])
        cat_idx = np.where(cat == "promoter", 0, np.where(cat == "passive", 1, 2))
        u = rng.random(n)[:, None]
        topic_idx = (u > np.cumsum(probs, axis=1)[cat_idx]).sum(axis=1)
        has = rng.random(n) < 0.70
        odd = rng.random(n) < 0.05
        comment = np.full(n, "", dtype=object)
        topic_name = np.full(n, "", dtype=object)
        for j, name in enumerate(_TOPIC_NAMES):
            sel = has & ~odd & (topic_idx == j)
            comment[sel] = bank[name][rng.integers(0, len(bank[name]), size=sel.sum())]
            topic_name[sel] = name
        sel = has & odd
        comment[sel] = np.array(_ODD, dtype=object)[rng.integers(0, len(_ODD), size=sel.sum())]
        language = np.where(topic_name != "", "en", "").astype(object)
        if banks:
            language[topic_name != ""] = np.array(langs, dtype=object)[
                lang_rng.choice(len(langs), size=int((topic_name != "").sum()), p=lang_p)]
            for code, lang_bank in banks.items():
                for name in _TOPIC_NAMES:
                    sel = (language == code) & (topic_name == name)
                    comment[sel] = lang_bank[name][lang_rng.integers(0, len(lang_bank[name]), size=sel.sum())]
        frame = pd.DataFrame({
            "customer_id": np.char.add("C", cust["id"].astype(str)),
            "quarter": quarter,
            "nps_score": nps,
            "csat": csat.astype(int),
            "ces": ces.astype(int),
            "spend": spend,
            "churned": churned,
            "orders": orders,
            "returns": returns,
            "support_tickets": tickets,
            "support_cost": support_cost,
            "plan": PLANS[plan],
            "region": REGIONS[region],
            "job_title": JOBS[cust["job"]],
            "contract_value": contract_value,
            "tenure_months": tenure.astype(int),
            "visits_per_month": visits,
            "age": cust["age"].astype(int),
            "first_contact_resolved": fcr,
            "renewed": renewed,
            "trial_converted": trial,
            "mrr": np.round(spend / 3, 2),
            "comment": comment,
        })
        for j, d in enumerate(DRIVERS):
            frame[d] = drivers[:, j].astype(int)
        if include_truth:
            frame["_topic"] = topic_name
            frame["_language"] = language
            frame["_latent"] = latent
        frames.append(frame)
        # next quarter: survivors age by 3 months; churned customers are replaced
        gone = churned.astype(bool)
        repl = new_customers(int(gone.sum()), next_id, tenure_max=2)
        next_id += int(gone.sum())
        for key in cust:
            cust[key] = cust[key].copy()
            cust[key][gone] = repl[key]
        cust["tenure"] = np.where(gone, cust["tenure"], cust["tenure"] + 3)
        q += 1
        if q == 5:
            year, q = year + 1, 1
    out = pd.concat(frames, ignore_index=True)
    if response_rates is not None:
        out = _non_response(out, response_rates, np.random.default_rng([random_state, 16]), include_truth)
    return out


#: Response probability by plan of the sample's base: Pro customers answer 8x as often as Basic.
RESPONSE_RATES: dict[str, float] = {"Basic": 0.10, "Plus": 0.30, "Pro": 0.80}


def _non_response(frame: pd.DataFrame, rates: Mapping[str, float], rng, include_truth: bool) -> pd.DataFrame:
    """Blank the survey columns of the customers who did not answer (response by plan)."""
    bad = {k: v for k, v in rates.items() if k not in PLANS or not 0 <= float(v) <= 1}
    if bad or not rates:
        raise ValueError(f"response_rates must map plans ({', '.join(PLANS)}) to probabilities 0-1; got {dict(rates)!r}.")
    p = frame["plan"].map({k: float(v) for k, v in rates.items()}).fillna(1.0).to_numpy()
    answered = rng.random(len(frame)) < p
    out = frame.copy()
    if include_truth:
        out["_nps_score"] = out["nps_score"]
        out["_responded"] = answered
    survey = ["nps_score", "csat", "ces", *DRIVERS]
    for c in survey:
        out[c] = out[c].astype("Int64").where(answered)
    out["comment"] = out["comment"].where(answered, "")
    return out


def true_outcomes(frame: pd.DataFrame, category: str, truth: Truth = TRUTH) -> pd.DataFrame:
    """Expected quarterly spend, churn probability and returns of each row *as if* ``category``.

    Uses the generator's true parameters and the rows' plan, region, tenure and orders.

    Returns
    -------
    DataFrame
        ``spend, churn, returns`` (expected values), index aligned with ``frame``.
    """
    plan = pd.Categorical(frame["plan"], categories=PLANS).codes
    region = pd.Categorical(frame["region"], categories=REGIONS).codes
    tenure = frame["tenure_months"].to_numpy(float)
    eta_s, eta_c, eta_r = _design_values(truth, plan, region, tenure)
    p = 1.0 if category == "promoter" else 0.0
    d = 1.0 if category == "detractor" else 0.0
    spend = (1 - truth.spend_zero_prob) * np.exp(
        eta_s + truth.coef("spend_promoter") * p + truth.coef("spend_detractor") * d)
    churn = expit(eta_c + truth.coef("churn_promoter") * p + truth.coef("churn_detractor") * d)
    returns = frame["orders"].to_numpy(float) * np.exp(
        eta_r + truth.coef("returns_promoter") * p + truth.coef("returns_detractor") * d)
    return pd.DataFrame({"spend": spend, "churn": churn, "returns": returns}, index=frame.index)


def true_effects(frame: pd.DataFrame, truth: Truth = TRUTH, *, score: str = "nps_score") -> dict:
    """The true counterfactual effects averaged over the frame's current passives.

    Same estimands and scales as :func:`cxanalysis.models.counterfactual_effects`: spend and
    returns as ratios, churn as a difference in percentage points.
    """
    passives = frame[_cx_category(frame[score].to_numpy()) == "passive"]
    base = true_outcomes(passives, "passive", truth).mean()
    out = {}
    for cat in ("promoter", "detractor"):
        alt = true_outcomes(passives, cat, truth).mean()
        out[f"{cat}_vs_passive"] = {
            "spend": alt["spend"] / base["spend"],
            "churn": 100 * (alt["churn"] - base["churn"]),
            "returns": alt["returns"] / base["returns"],
        }
    return out


def make_clustered(
    n_customers: int = 3000, k: int = 4, *, random_state: int = 0, separation: float = 4.0
) -> pd.DataFrame:
    """Customers drawn from ``k`` planted behavioural segments (for clustering tests).

    Each segment has its own centre in the behavioural columns; ``_cluster`` holds the truth.
    """
    rng = np.random.default_rng(random_state)
    cols = ["spend", "orders", "visits_per_month", "tenure_months", "support_tickets", "nps_score"]
    scale = np.array([120.0, 1.5, 1.2, 8.0, 0.6, 0.8])
    # baselines far enough from 0 (and 10 for the score) that no centre is clipped
    base = np.array([600.0, 8.0, 8.0, 40.0, 4.0, 5.0])

    def draw():
        return rng.choice([-1.0, 0.0, 1.0], size=(k, len(cols)))

    offsets = draw()
    # every pair of centres differs in at least two columns
    while min((np.abs(offsets[i] - offsets[j]) > 0).sum() for i in range(k) for j in range(i + 1, k)) < 2:
        offsets = draw()
    centres = base + separation * scale * offsets
    label = rng.integers(0, k, size=n_customers)
    values = centres[label] + rng.normal(size=(n_customers, len(cols))) * scale
    frame = pd.DataFrame(values, columns=cols)
    frame["spend"] = frame["spend"].clip(lower=0).round(2)
    for c in ("orders", "support_tickets", "tenure_months", "visits_per_month"):
        frame[c] = frame[c].clip(lower=0)
    frame["nps_score"] = frame["nps_score"].round().clip(0, 10).astype(int)
    frame.insert(0, "customer_id", [f"K{i:06d}" for i in range(n_customers)])
    frame["quarter"] = "2026Q1"
    frame["_cluster"] = label
    return frame


def truth_table(truth: Truth = TRUTH) -> pd.DataFrame:
    """The documented true parameters as a two-column table (for data/README.md)."""
    return pd.DataFrame({"parameter": list(asdict(truth)), "value": list(asdict(truth).values())})


# --------------------------------------------------------------------------------------------
# two-file samples: a CRM table and a survey-platform export


#: The survey's questions in the Qualtrics layout: field id -> (canonical column, question text).
SURVEY_QUESTIONS: dict[str, tuple[str, str]] = {
    "Q1": ("nps_score", "How likely are you to recommend us to a friend or colleague?"),
    "Q2": ("csat", "Overall, how satisfied are you with us?"),
    "Q3": ("ces", "How easy was it to get what you needed from us?"),
    "Q4_1": ("driver_delivery", "How satisfied are you with each of the following? - Delivery"),
    "Q4_2": ("driver_support", "How satisfied are you with each of the following? - Support"),
    "Q4_3": ("driver_product", "How satisfied are you with each of the following? - Product"),
    "Q4_4": ("driver_price", "How satisfied are you with each of the following? - Price"),
    "Q4_5": ("driver_website", "How satisfied are you with each of the following? - Website"),
    "Q5": ("comment", "What is the main reason for your score?"),
}
#: The ``columns:`` mapping for a two-file sample (survey ids to canonical names).
SURVEY_MAPPING = {canonical: qid for qid, (canonical, _) in SURVEY_QUESTIONS.items()}
# choice text as Qualtrics exports it; other values are exported as plain numbers
_CHOICE_TEXT = {
    "nps_score": {0: "0 - Not at all likely", 10: "10 - Extremely likely"},
    "csat": {1: "1 - Very dissatisfied", 2: "2 - Dissatisfied", 3: "3 - Neutral", 4: "4 - Satisfied",
           5: "5 - Very satisfied"},
    "ces": {1: "1 - Very difficult", 7: "7 - Very easy"},
}


@dataclass
class SurveySample:
    """A CRM table, a survey export's rows (Qualtrics field ids, numeric answers) and the truth.

    ``truth`` holds the answer that counts for each respondent (``customer_id, quarter`` and the
    canonical survey columns); ``counts`` the planted ``preview, test, spam, unfinished``
    responses, ``repeat_answers`` (customers answering twice), ``unmatched`` responses, and
    ``responses`` (rows of the export); ``earlier`` the first answer of each repeated customer;
    ``columns`` the survey's field id of each canonical column.
    """

    crm: pd.DataFrame
    responses: pd.DataFrame
    labels: dict[str, str]
    truth: pd.DataFrame
    earlier: pd.DataFrame
    counts: dict[str, int]
    columns: dict[str, str]


def make_survey_sample(
    customers: pd.DataFrame,
    *,
    response_rate: float = 0.6,
    n_preview: int = 4,
    n_test: int = 3,
    n_spam: int = 5,
    n_unfinished: int = 12,
    n_repeat: int = 20,
    n_unmatched: int = 10,
    random_state: int = 0,
    field_ids: str = "numbered",
) -> SurveySample:
    """Split generated customers into a CRM table and a Qualtrics-style survey export.

    Parameters
    ----------
    customers : DataFrame
        From :func:`make_customers`.
    response_rate : float
        Share of customer-quarters that answered (at random, so the respondents' effects are
        the customers').
    n_preview, n_test, n_spam, n_unfinished : int
        Responses planted with ``Status`` survey preview / survey test / spam, or ``Finished``
        false; they carry real customer ids (unfinished ones: of customers who did not answer),
        so keeping any of them would change the join counts.
    n_repeat : int
        Respondents who also answered earlier in the same quarter, with other scores.
    n_unmatched : int
        Responses whose id is no customer.
    field_ids : {"numbered", "canonical"}
        The survey's field ids: Qualtrics' own (``Q1``, ``Q4_1``; map them in ``columns:``) or
        export tags renamed to the canonical names (``nps_score``, ``driver_delivery``), as an
        analyst can set them in Qualtrics, so that no mapping is needed.

    Returns
    -------
    SurveySample
    """
    rng = np.random.default_rng(random_state)
    survey_cols = [c for c, _ in SURVEY_QUESTIONS.values()]
    crm = customers.drop(columns=[c for c in survey_cols if c in customers]).reset_index(drop=True)
    base = customers.reset_index(drop=True)
    answered = rng.random(len(base)) < response_rate
    qstart = pd.PeriodIndex(base["quarter"].str.replace("Q", "-Q"), freq="Q").start_time

    def rows(idx: np.ndarray, *, status="IP Address", finished=True, days=None, ids=None,
             random_answers=False) -> pd.DataFrame:
        m = len(idx)
        day = days if days is not None else rng.integers(20, 88, size=m)
        recorded = (qstart[idx] + pd.to_timedelta(day, unit="D")
                    + pd.to_timedelta(rng.integers(0, 86400, size=m), unit="s"))
        duration = rng.integers(40, 900, size=m)
        out = pd.DataFrame({
            "StartDate": recorded - pd.to_timedelta(duration, unit="s"),
            "EndDate": recorded,
            "Status": status,
            "IPAddress": [f"10.0.{rng.integers(0, 255)}.{rng.integers(1, 255)}" for _ in range(m)],
            "Progress": 100 if finished else rng.integers(10, 90, size=m),
            "Duration (in seconds)": duration,
            "Finished": finished,
            "RecordedDate": recorded,
            "ResponseId": [f"R_{rng.integers(16**14, 16**15):015x}" for _ in range(m)],
            "ExternalReference": ids if ids is not None else base["customer_id"].to_numpy()[idx],
            "DistributionChannel": "email",
            "UserLanguage": "EN",
        })
        for qid, (col, _) in SURVEY_QUESTIONS.items():
            values = base[col].to_numpy()[idx]
            if random_answers and col != "comment":
                lo, hi = {"nps_score": (0, 10), "csat": (1, 5), "ces": (1, 7)}.get(col, (1, 10))
                values = rng.integers(lo, hi + 1, size=m)
            out[qid] = values
        return out

    resp_idx = np.flatnonzero(answered)
    genuine = rows(resp_idx)
    rep = rng.choice(len(resp_idx), size=min(n_repeat, len(resp_idx)), replace=False)
    earlier = rows(resp_idx[rep], days=rng.integers(5, 15, size=len(rep)), random_answers=True)
    # the genuine answer of a repeated customer comes later in the quarter than the earlier one
    later = earlier["RecordedDate"].to_numpy() + np.timedelta64(7, "D")
    for col in ("StartDate", "EndDate", "RecordedDate"):
        genuine.loc[rep, col] = np.maximum(genuine.loc[rep, col].to_numpy(), later)

    def anyone(k: int) -> np.ndarray:
        return rng.choice(len(base), size=k, replace=False)

    non_resp = np.flatnonzero(~answered)
    parts = [
        genuine, earlier,
        rows(anyone(n_preview), status="Survey Preview", random_answers=True),
        rows(anyone(n_test), status="Survey Test", random_answers=True),
        rows(anyone(n_spam), status="Spam", random_answers=True),
        rows(rng.choice(non_resp, size=n_unfinished, replace=False), finished=False,
             random_answers=True),
        rows(anyone(n_unmatched), ids=[f"C9{i:06d}" for i in range(n_unmatched)], random_answers=True),
    ]
    responses = pd.concat(parts, ignore_index=True).sort_values("RecordedDate", kind="stable")
    responses = responses.reset_index(drop=True)
    truth = base.loc[resp_idx, ["customer_id", "quarter", *survey_cols]].reset_index(drop=True)
    earlier_truth = earlier.rename(columns={q: c for q, (c, _) in SURVEY_QUESTIONS.items()})
    earlier_truth = earlier_truth.rename(columns={"ExternalReference": "customer_id"})
    earlier_truth.insert(1, "quarter", base.loc[resp_idx[rep], "quarter"].to_numpy())
    counts = {"preview": n_preview, "test": n_test, "spam": n_spam, "unfinished": n_unfinished,
              "repeat_answers": len(rep), "unmatched": n_unmatched, "responses": len(responses),
              "respondents": len(resp_idx)}
    labels = {qid: text for qid, (_, text) in SURVEY_QUESTIONS.items()}
    columns = dict(SURVEY_MAPPING)
    if field_ids == "canonical":
        responses = responses.rename(columns={q: c for q, (c, _) in SURVEY_QUESTIONS.items()})
        labels = {SURVEY_QUESTIONS[q][0]: t for q, t in labels.items()}
        columns = {c: c for c in columns}
    return SurveySample(crm, responses, labels, truth, earlier_truth, counts, columns)


def _as_text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def write_qualtrics(sample: SurveySample, path, *, tsv: bool = False, numeric_status: bool = False,
                    choice_text: bool = True) -> None:
    """Write the survey in Qualtrics' layout: field ids, question text, ``{"ImportId": ...}``.

    CSV is UTF-8 with a byte-order mark; ``tsv=True`` writes Qualtrics' UTF-16 tab-separated
    export. ``numeric_status`` writes ``Status`` as codes (1 = survey preview ...) and
    ``Finished`` as 1/0; ``choice_text`` writes answers as their choice text where the question
    has one ("10 - Extremely likely").
    """
    import csv
    import json

    frame = sample.responses.copy()
    if numeric_status:
        codes = {"IP Address": 0, "Survey Preview": 1, "Survey Test": 2, "Spam": 8}
        frame["Status"] = frame["Status"].map(codes)
        frame["Finished"] = frame["Finished"].astype(int)
    if choice_text:
        for canonical, texts in _CHOICE_TEXT.items():
            qid = sample.columns[canonical]
            frame[qid] = [texts.get(int(v), str(int(v))) if pd.notna(v) else "" for v in frame[qid]]
    ids = list(frame.columns)
    text = [sample.labels.get(c, c) for c in ids]
    qids = {sample.columns[c]: q for q, (c, _) in SURVEY_QUESTIONS.items()}
    imports = [json.dumps({"ImportId": "QID" + qids[c][1:]} if c in qids
                          else {"ImportId": c[0].lower() + c[1:]}, separators=(",", ":")) for c in ids]
    encoding, sep = ("utf-16", "\t") if tsv else ("utf-8-sig", ",")
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, delimiter=sep)
        w.writerow(ids)
        w.writerow(text)
        w.writerow(imports)
        for row in frame.itertuples(index=False):
            w.writerow([_as_text(v) for v in row])


def write_surveymonkey(sample: SurveySample, path) -> None:
    """Write the genuine, repeated and unmatched responses in SurveyMonkey's two-row layout.

    SurveyMonkey has no preview or test status; its partial responses are left out too. Row one
    holds the question above its first column only; row two ``Response``, ``Open-Ended
    Response`` or the option of a grid question.
    """
    import csv

    keep = (sample.responses["Status"] == "IP Address") & sample.responses["Finished"].astype(bool)
    r = sample.responses[keep].reset_index(drop=True)
    fmt = "%m/%d/%Y %I:%M:%S %p"
    grid = "How satisfied are you with each of the following?"
    top = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address", "Email Address",
           "First Name", "Last Name", "Custom Data 1",
           SURVEY_QUESTIONS["Q1"][1], SURVEY_QUESTIONS["Q2"][1], SURVEY_QUESTIONS["Q3"][1],
           grid, "", "", "", "", SURVEY_QUESTIONS["Q5"][1]]
    second = [""] * 9 + ["Response"] * 3 + ["Delivery", "Support", "Product", "Price", "Website",
                                           "Open-Ended Response"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(top)
        w.writerow(second)
        for i, row in r.iterrows():
            w.writerow([str(11400000000 + i), "4321", row["StartDate"].strftime(fmt),
                        row["EndDate"].strftime(fmt), row["IPAddress"], "", "", "",
                        row["ExternalReference"],
                        *[_as_text(row[sample.columns[c]]) for _, (c, _) in SURVEY_QUESTIONS.items()]])


def write_survey_sample(out, customers: pd.DataFrame, *, format: str = "qualtrics",
                        random_state: int = 0, **options) -> tuple:
    """Write ``crm.csv`` and the survey export (``responses.csv``) of a two-file sample.

    Returns the two paths and the :class:`SurveySample`. ``options`` go to
    :func:`make_survey_sample` (default ``field_ids="canonical"``: the survey's export tags are
    the canonical names, so ``cxanalysis report crm.csv --survey responses.csv`` needs no
    mapping).
    """
    options.setdefault("field_ids", "canonical")
    from pathlib import Path

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sample = make_survey_sample(customers, random_state=random_state, **options)
    crm_path, survey_path = out / "crm.csv", out / "responses.csv"
    sample.crm.to_csv(crm_path, index=False)
    if format == "qualtrics":
        write_qualtrics(sample, survey_path)
    elif format == "surveymonkey":
        write_surveymonkey(sample, survey_path)
    else:
        raise ValueError(f"format must be 'qualtrics' or 'surveymonkey'; got {format!r}.")
    return crm_path, survey_path, sample
