//! Binary operators: arithmetic, comparisons and set operations, with
//! Prometheus's vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`) and its errors for ambiguous matches.
//!
//! Series are paired by their matching signature once for the whole grid;
//! only the per-step checks (a match group may hold one series *at a time*)
//! run per step.

use rustc_hash::FxHashMap;
use vigil_shared::model::{Labels, METRIC_NAME};
use vigil_shared::promql::{BinaryExpr, BinaryOp, Cardinality, VectorMatching};

use super::EvalError;
use super::eval::{Evaluator, StepSeries, Val, duplicate_labelset, merge_same_labels};

pub(crate) fn eval(ev: &Evaluator, expr: &BinaryExpr) -> Result<Val, EvalError> {
    let lhs = ev.eval(&expr.lhs)?;
    let rhs = ev.eval(&expr.rhs)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(&r)
                .map(|(a, b)| {
                    let (value, keep) = apply(expr.op, *a, *b);
                    if expr.op.is_comparison() { bool_value(keep) } else { value }
                })
                .collect(),
        )),
        (Val::Vector(l), Val::Scalar(r)) => Ok(Val::Vector(vector_scalar(expr, l, &r, false)?)),
        (Val::Scalar(l), Val::Vector(r)) => Ok(Val::Vector(vector_scalar(expr, r, &l, true)?)),
        (Val::Vector(l), Val::Vector(r)) => {
            let default_matching;
            let matching = match &expr.matching {
                Some(m) => m,
                None => {
                    default_matching = VectorMatching {
                        card: if expr.op.is_set_operator() { Cardinality::ManyToMany } else { Cardinality::OneToOne },
                        matching_labels: Vec::new(),
                        on: false,
                        include: Vec::new(),
                    };
                    &default_matching
                }
            };
            let steps = ev.steps.len();
            match expr.op {
                // `or` can bring together series whose labels coincide (both
                // sides lost their names) at different steps: one series.
                BinaryOp::And | BinaryOp::Unless | BinaryOp::Or => {
                    Ok(Val::Vector(merge_same_labels(set_operation(expr.op, l, r, matching, steps))?))
                }
                _ => Ok(Val::Vector(vector_vector(expr, l, r, matching, steps)?)),
            }
        }
        _ => Err(EvalError::Execution(format!("operator {} is not defined on strings", expr.op.as_str()))),
    }
}

fn bool_value(keep: bool) -> f64 {
    if keep { 1.0 } else { 0.0 }
}

/// The result of `l op r` and, for comparisons, whether the pair is kept
/// (the value is then `l`).
fn apply(op: BinaryOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Mod => (l % r, true),
        BinaryOp::Pow => (l.powf(r), true),
        BinaryOp::Atan2 => (l.atan2(r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Lte => (l, l <= r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Gte => (l, l >= r),
        // Set operators never reach here: they select, they don't compute.
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => (l, true),
    }
}

/// Whether the result loses its metric name: arithmetic changes what the
/// metric means, and so does turning a comparison into 0/1 with `bool`.
fn drops_metric_name(expr: &BinaryExpr) -> bool {
    !expr.op.is_comparison() || expr.return_bool
}

fn vector_scalar(
    expr: &BinaryExpr,
    vector: Vec<StepSeries>,
    scalar: &[f64],
    scalar_on_left: bool,
) -> Result<Vec<StepSeries>, EvalError> {
    let drop_name = drops_metric_name(expr);
    let mut out = Vec::with_capacity(vector.len());
    for series in vector {
        let values: Vec<Option<f64>> = series
            .values
            .iter()
            .zip(scalar)
            .map(|(v, s)| {
                let v = (*v)?;
                let (l, r) = if scalar_on_left { (*s, v) } else { (v, *s) };
                let (mut value, keep) = apply(expr.op, l, r);
                if expr.op.is_comparison() {
                    // The vector's own value is kept, whichever side it is on.
                    value = v;
                }
                match (expr.return_bool, keep) {
                    (true, keep) => Some(bool_value(keep)),
                    (false, true) => Some(value),
                    (false, false) => None,
                }
            })
            .collect();
        if values.iter().any(Option::is_some) {
            let labels = if drop_name { series.labels.without_metric_name() } else { series.labels };
            out.push(StepSeries { labels, values });
        }
    }
    if drop_name { merge_same_labels(out) } else { Ok(out) }
}

/// The labels two series are matched on.
fn signature(labels: &Labels, matching: &VectorMatching) -> Labels {
    if matching.on {
        labels.filtered(|name| matching.matching_labels.iter().any(|l| l == name))
    } else {
        labels.filtered(|name| name != METRIC_NAME && !matching.matching_labels.iter().any(|l| l == name))
    }
}

/// Each series' matching signature, in order.
fn signatures(series: &[StepSeries], matching: &VectorMatching) -> Vec<Labels> {
    series.iter().map(|s| signature(&s.labels, matching)).collect()
}

/// Series indexes by signature.
fn group_by_signature(sigs: &[Labels]) -> FxHashMap<&Labels, Vec<usize>> {
    let mut groups: FxHashMap<&Labels, Vec<usize>> = FxHashMap::default();
    for (i, sig) in sigs.iter().enumerate() {
        groups.entry(sig).or_default().push(i);
    }
    groups
}

fn set_operation(
    op: BinaryOp,
    lhs: Vec<StepSeries>,
    rhs: Vec<StepSeries>,
    matching: &VectorMatching,
    steps: usize,
) -> Vec<StepSeries> {
    let lhs_sigs = signatures(&lhs, matching);
    let rhs_sigs = signatures(&rhs, matching);
    // Per signature, at which steps the other side has any series.
    let presence = |series: &[StepSeries], sigs: &[Labels]| {
        let mut present: FxHashMap<Labels, Vec<bool>> = FxHashMap::default();
        for (s, sig) in series.iter().zip(sigs) {
            let steps_present = present.entry(sig.clone()).or_insert_with(|| vec![false; steps]);
            for (slot, v) in steps_present.iter_mut().zip(&s.values) {
                *slot |= v.is_some();
            }
        }
        present
    };
    let mut out = Vec::new();
    match op {
        BinaryOp::And | BinaryOp::Unless => {
            let rhs_present = presence(&rhs, &rhs_sigs);
            let keep_when_matched = op == BinaryOp::And;
            for (mut s, sig) in lhs.into_iter().zip(&lhs_sigs) {
                let matched = rhs_present.get(sig);
                for (i, v) in s.values.iter_mut().enumerate() {
                    let has_match = matched.is_some_and(|m| m[i]);
                    if has_match != keep_when_matched {
                        *v = None;
                    }
                }
                if s.values.iter().any(Option::is_some) {
                    out.push(s);
                }
            }
        }
        _ => {
            let lhs_present = presence(&lhs, &lhs_sigs);
            out.extend(lhs);
            for (mut s, sig) in rhs.into_iter().zip(&rhs_sigs) {
                if let Some(taken) = lhs_present.get(sig) {
                    for (v, taken) in s.values.iter_mut().zip(taken) {
                        if *taken {
                            *v = None;
                        }
                    }
                }
                if s.values.iter().any(Option::is_some) {
                    out.push(s);
                }
            }
        }
    }
    out
}

/// The labels of a result element, from the "many" side and the "one" side.
fn result_labels(many: &Labels, one: &Labels, expr: &BinaryExpr, matching: &VectorMatching) -> Labels {
    let mut labels = if drops_metric_name(expr) { many.without_metric_name() } else { many.clone() };
    if matching.card == Cardinality::OneToOne {
        labels = if matching.on {
            labels.filtered(|name| matching.matching_labels.iter().any(|l| l == name))
        } else {
            labels.filtered(|name| !matching.matching_labels.iter().any(|l| l == name))
        };
    }
    for name in &matching.include {
        labels = labels.with(name, one.get(name).unwrap_or(""));
    }
    labels
}

fn vector_vector(
    expr: &BinaryExpr,
    lhs: Vec<StepSeries>,
    rhs: Vec<StepSeries>,
    matching: &VectorMatching,
    steps: usize,
) -> Result<Vec<StepSeries>, EvalError> {
    // The control flow works on "many" and "one" sides; one-to-many swaps
    // them, and the operands are swapped back for the arithmetic.
    let swapped = matching.card == Cardinality::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let many_sigs = signatures(&many, matching);
    let one_sigs = signatures(&one, matching);
    let many_groups = group_by_signature(&many_sigs);
    let one_groups = group_by_signature(&one_sigs);

    // The "one" side may hold at most one series per signature at a step.
    for members in one_groups.values().filter(|m| m.len() > 1) {
        for step in 0..steps {
            let present: Vec<usize> = members.iter().copied().filter(|&i| one[i].values[step].is_some()).collect();
            if present.len() > 1 {
                let side = if swapped { "left" } else { "right" };
                let mut names = [braced(&one[present[0]].labels), braced(&one[present[1]].labels)];
                names.sort();
                let group = braced(&signature(&one[present[0]].labels, matching));
                return Err(EvalError::Execution(format!(
                    "found duplicate series for the match group {group} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    names[0], names[1]
                )));
            }
        }
    }
    // One-to-one: the "many" side too, wherever a match exists.
    if matching.card == Cardinality::OneToOne {
        for (sig, members) in many_groups.iter().filter(|(_, m)| m.len() > 1) {
            let Some(partners) = one_groups.get(sig) else { continue };
            for step in 0..steps {
                if !partners.iter().any(|&j| one[j].values[step].is_some()) {
                    continue;
                }
                if members.iter().filter(|&&i| many[i].values[step].is_some()).count() > 1 {
                    return Err(EvalError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                            .to_owned(),
                    ));
                }
            }
        }
    }

    let mut out: Vec<StepSeries> = Vec::new();
    let mut out_index: FxHashMap<Labels, usize> = FxHashMap::default();
    // Which "many" series wrote each output step, to tell a legitimate
    // group_left collision error from others.
    let mut writers: Vec<Vec<u32>> = Vec::new();
    for (i, series) in many.iter().enumerate() {
        let Some(partners) = one_groups.get(&many_sigs[i]) else { continue };
        // Output labels per partner, computed once per pair.
        let mut partner_labels: Vec<Option<usize>> = vec![None; partners.len()];
        for step in 0..steps {
            let Some(v_many) = series.values[step] else { continue };
            let Some((p, v_one)) = partners.iter().enumerate().find_map(|(p, &j)| one[j].values[step].map(|v| (p, v)))
            else {
                continue;
            };
            let (l, r) = if swapped { (v_one, v_many) } else { (v_many, v_one) };
            let (value, keep) = apply(expr.op, l, r);
            let value = match (expr.return_bool, keep) {
                (true, keep) => bool_value(keep),
                (false, true) => value,
                (false, false) => continue,
            };
            let slot = match partner_labels[p] {
                Some(slot) => slot,
                None => {
                    let labels = result_labels(&series.labels, &one[partners[p]].labels, expr, matching);
                    let slot = *out_index.entry(labels.clone()).or_insert_with(|| {
                        out.push(StepSeries { labels, values: vec![None; steps] });
                        writers.push(vec![u32::MAX; steps]);
                        out.len() - 1
                    });
                    partner_labels[p] = Some(slot);
                    slot
                }
            };
            if out[slot].values[step].is_some() {
                let other = writers[slot][step] as usize;
                let same_group = many_sigs.get(other).is_some_and(|sig| *sig == many_sigs[i]);
                return Err(if matching.card != Cardinality::OneToOne && same_group {
                    EvalError::Execution(
                        "multiple matches for labels: grouping labels must ensure unique matches".to_owned(),
                    )
                } else {
                    duplicate_labelset()
                });
            }
            out[slot].values[step] = Some(value);
            writers[slot][step] = i as u32;
        }
    }
    out.retain(|s| s.values.iter().any(Option::is_some));
    Ok(out)
}

/// A label set as Prometheus's `labels.Labels.String()` writes it in error
/// messages: every label, the name too, inside braces.
fn braced(labels: &Labels) -> String {
    let pairs: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", pairs.join(", "))
}
