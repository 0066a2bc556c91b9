//! Versions and staging labels.
//!
//! Each label is on at most one version. `AWSCURRENT` marks the value readers get by default;
//! whenever it moves, `AWSPREVIOUS` follows to the version that lost it. `AWSPENDING` marks the
//! version a rotation is building. A version without labels is deprecated.

/// The label of the current value.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label of the value before the current one.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// The label of the value a rotation is building.
pub const AWSPENDING: &str = "AWSPENDING";

/// A version as far as staging labels are concerned.
pub trait Staged {
    /// The version id.
    fn version_id(&self) -> &str;
    /// Its labels.
    fn stages(&self) -> &[String];
    /// Its labels, to change.
    fn stages_mut(&mut self) -> &mut Vec<String>;
}

/// Why a label change is refused (AWS's `InvalidParameterException` texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StagingError {
    /// The version does not exist.
    #[error("Not a valid version: {0}")]
    NoSuchVersion(String),
    /// `RemoveFromVersionId` does not carry the label.
    #[error("Version stage {stage} not found in version {version}")]
    NotOnVersion {
        /// The label.
        stage: String,
        /// The version named.
        version: String,
    },
    /// The label is attached elsewhere and the request did not say to remove it from there.
    #[error(
        "The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently attached to version {version}, so you must explicitly reference that version in RemoveFromVersionId."
    )]
    MustRemoveFrom {
        /// The label.
        stage: String,
        /// The version holding it.
        version: String,
    },
    /// AWSCURRENT removed without a version to move it to: a secret always has a current
    /// version.
    #[error(
        "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed."
    )]
    CurrentRemoved,
    /// Too many labels on the secret's versions together (AWS's quota counts them across the
    /// secret, not per version).
    #[error(
        "a secret can have at most 20 staging labels across its versions; this request would make {0}"
    )]
    TooManyStages(usize),
}

fn detach<T: Staged>(versions: &mut [T], stage: &str, except: Option<&str>) -> Option<String> {
    let mut from = None;
    for v in versions.iter_mut() {
        if Some(v.version_id()) == except {
            continue;
        }
        let before = v.stages().len();
        v.stages_mut().retain(|s| s != stage);
        if v.stages().len() != before {
            from = Some(v.version_id().to_owned());
        }
    }
    from
}

fn position<T: Staged>(versions: &[T], id: &str) -> Option<usize> {
    versions.iter().position(|v| v.version_id() == id)
}

/// The id of the version carrying `stage`.
pub fn holder<'a, T: Staged>(versions: &'a [T], stage: &str) -> Option<&'a str> {
    versions
        .iter()
        .find(|v| v.stages().iter().any(|s| s == stage))
        .map(Staged::version_id)
}

/// Adds a new version carrying the labels it was created with (the first version of a secret
/// always gets `AWSCURRENT`). Its labels leave the versions that had them, and if it takes
/// `AWSCURRENT`, `AWSPREVIOUS` moves to the version that lost it.
pub fn add_version<T: Staged>(versions: &mut Vec<T>, mut new: T) -> Result<(), StagingError> {
    // A label named twice is one label.
    let mut seen = std::collections::HashSet::new();
    new.stages_mut().retain(|s| seen.insert(s.clone()));
    if versions.iter().all(|v| v.stages().is_empty())
        && !new.stages().iter().any(|s| s == AWSCURRENT)
    {
        new.stages_mut().push(AWSCURRENT.to_owned());
    }
    let labels: Vec<String> = new.stages().to_vec();
    let takes_current = labels.iter().any(|l| l == AWSCURRENT);
    let takes_previous = labels.iter().any(|l| l == AWSPREVIOUS);
    let mut after: std::collections::HashSet<&str> = versions
        .iter()
        .flat_map(|v| v.stages())
        .map(String::as_str)
        .chain(labels.iter().map(String::as_str))
        .collect();
    if takes_current && holder(versions, AWSCURRENT).is_some() {
        after.insert(AWSPREVIOUS);
    }
    if after.len() > crate::MAX_STAGES_PER_SECRET {
        return Err(StagingError::TooManyStages(after.len()));
    }
    let mut lost_current = None;
    for label in &labels {
        let from = detach(versions, label, None);
        if label == AWSCURRENT {
            lost_current = from;
        }
    }
    // AWSPREVIOUS follows the version that lost AWSCURRENT, unless the new version was given
    // AWSPREVIOUS itself: a label is on one version only.
    if let Some(old) = lost_current.filter(|_| !takes_previous) {
        detach(versions, AWSPREVIOUS, None);
        if let Some(i) = position(versions, &old)
            && let Some(v) = versions.get_mut(i)
        {
            v.stages_mut().push(AWSPREVIOUS.to_owned());
        }
    }
    versions.push(new);
    Ok(())
}

/// `UpdateSecretVersionStage`: moves `stage` from `remove_from` to `move_to` (either may be
/// absent). Moving `AWSCURRENT` drags `AWSPREVIOUS` to the version it left.
pub fn move_stage<T: Staged>(
    versions: &mut [T],
    stage: &str,
    remove_from: Option<&str>,
    move_to: Option<&str>,
) -> Result<(), StagingError> {
    for id in [remove_from, move_to].into_iter().flatten() {
        if position(versions, id).is_none() {
            return Err(StagingError::NoSuchVersion(id.to_owned()));
        }
    }
    if stage == "AWSCURRENT" && remove_from.is_some() && move_to.is_none() {
        return Err(StagingError::CurrentRemoved);
    }
    let current_holder = holder(versions, stage).map(str::to_owned);
    if let Some(from) = remove_from {
        if current_holder.as_deref() != Some(from) {
            return Err(StagingError::NotOnVersion {
                stage: stage.to_owned(),
                version: from.to_owned(),
            });
        }
    } else if let Some(h) = &current_holder
        && Some(h.as_str()) != move_to
    {
        return Err(StagingError::MustRemoveFrom {
            stage: stage.to_owned(),
            version: h.clone(),
        });
    }
    if move_to.is_some() && current_holder.is_none() {
        let labels: std::collections::HashSet<&str> = versions
            .iter()
            .flat_map(|v| v.stages())
            .map(String::as_str)
            .collect();
        if labels.len() >= crate::MAX_STAGES_PER_SECRET {
            return Err(StagingError::TooManyStages(labels.len() + 1));
        }
    }
    detach(versions, stage, move_to);
    if let Some(to) = move_to
        && let Some(v) = versions.iter_mut().find(|v| v.version_id() == to)
        && !v.stages().iter().any(|s| s == stage)
    {
        v.stages_mut().push(stage.to_owned());
    }
    if stage == AWSCURRENT
        && let Some(from) = remove_from
        && Some(from) != move_to
    {
        detach(versions, AWSPREVIOUS, None);
        if let Some(v) = versions.iter_mut().find(|v| v.version_id() == from) {
            v.stages_mut().push(AWSPREVIOUS.to_owned());
        }
    }
    Ok(())
}

/// Whether a rotation is in progress: `AWSPENDING` on a version other than `AWSCURRENT`'s.
pub fn rotation_in_progress<T: Staged>(versions: &[T]) -> bool {
    versions.iter().any(|v| {
        v.stages().iter().any(|s| s == AWSPENDING) && !v.stages().iter().any(|s| s == AWSCURRENT)
    })
}

/// Drops the oldest versions without labels beyond [`crate::MAX_VERSIONS`], but never one
/// `old_enough` refuses (AWS keeps every version for its first 24 hours); `versions` is in
/// creation order. Returns the ids removed.
pub fn prune<T: Staged>(versions: &mut Vec<T>, old_enough: impl Fn(&T) -> bool) -> Vec<String> {
    let mut removed = Vec::new();
    while versions.len() > crate::MAX_VERSIONS {
        let Some(i) = versions
            .iter()
            .position(|v| v.stages().is_empty() && old_enough(v))
        else {
            break;
        };
        removed.push(versions.remove(i).version_id().to_owned());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    struct V(String, Vec<String>);
    impl Staged for V {
        fn version_id(&self) -> &str {
            &self.0
        }
        fn stages(&self) -> &[String] {
            &self.1
        }
        fn stages_mut(&mut self) -> &mut Vec<String> {
            &mut self.1
        }
    }
    fn v(id: &str, stages: &[&str]) -> V {
        V(id.into(), stages.iter().map(|s| (*s).to_owned()).collect())
    }
    fn stages_of(vs: &[V], id: &str) -> Vec<String> {
        vs.iter().find(|x| x.0 == id).map(|x| x.1.clone()).unwrap()
    }

    #[test]
    fn new_current_version_pushes_the_old_one_to_previous() {
        let mut vs = vec![];
        add_version(&mut vs, v("a", &[])).unwrap();
        assert_eq!(stages_of(&vs, "a"), vec![AWSCURRENT]);
        add_version(&mut vs, v("b", &[AWSCURRENT])).unwrap();
        add_version(&mut vs, v("c", &[AWSCURRENT])).unwrap();
        assert_eq!(stages_of(&vs, "c"), vec![AWSCURRENT]);
        assert_eq!(stages_of(&vs, "b"), vec![AWSPREVIOUS]);
        assert!(stages_of(&vs, "a").is_empty());
    }

    #[test]
    fn pending_version_leaves_current_alone() {
        let mut vs = vec![v("a", &[AWSCURRENT])];
        add_version(&mut vs, v("b", &[AWSPENDING])).unwrap();
        assert_eq!(stages_of(&vs, "a"), vec![AWSCURRENT]);
        assert!(rotation_in_progress(&vs));
    }

    #[test]
    fn moving_current_requires_naming_its_holder() {
        let mut vs = vec![v("a", &[AWSCURRENT]), v("b", &[AWSPENDING])];
        assert_eq!(
            move_stage(&mut vs, AWSCURRENT, None, Some("b")),
            Err(StagingError::MustRemoveFrom {
                stage: AWSCURRENT.into(),
                version: "a".into()
            })
        );
        move_stage(&mut vs, AWSCURRENT, Some("a"), Some("b")).unwrap();
        assert_eq!(stages_of(&vs, "b"), vec![AWSPENDING, AWSCURRENT]);
        assert_eq!(stages_of(&vs, "a"), vec![AWSPREVIOUS]);
        assert!(!rotation_in_progress(&vs));
    }

    #[test]
    fn unknown_versions_and_wrong_holders_are_refused() {
        let mut vs = vec![v("a", &[AWSCURRENT]), v("b", &[])];
        assert_eq!(
            move_stage(&mut vs, "X", None, Some("zz")),
            Err(StagingError::NoSuchVersion("zz".into()))
        );
        assert!(matches!(
            move_stage(&mut vs, AWSCURRENT, Some("b"), Some("a")),
            Err(StagingError::NotOnVersion { .. })
        ));
        move_stage(&mut vs, "custom", None, Some("b")).unwrap();
        move_stage(&mut vs, "custom", Some("b"), None).unwrap();
        assert!(stages_of(&vs, "b").is_empty());
    }

    #[test]
    fn pruning_keeps_labelled_versions() {
        let mut vs: Vec<V> = (0..105).map(|i| v(&format!("{i}"), &[])).collect();
        vs.push(v("cur", &[AWSCURRENT]));
        let removed = prune(&mut vs, |x| x.0 != "3");
        assert_eq!(removed.len(), 6);
        assert_eq!(vs.len(), 100);
        assert!(vs.iter().any(|x| x.0 == "cur"));
        // Regression: versions were removed in their first 24 hours too.
        assert!(vs.iter().any(|x| x.0 == "3"));
        assert!(prune(&mut vs, |_| false).is_empty());
    }

    #[test]
    fn a_label_given_twice_or_with_awsprevious_stays_on_one_version() {
        // Regression: ["AWSCURRENT", "AWSPREVIOUS"] left AWSPREVIOUS on two versions, and
        // ["AWSCURRENT", "AWSCURRENT"] stored the label twice and dropped the old version's
        // AWSPREVIOUS.
        let mut vs = vec![];
        add_version(&mut vs, v("a", &[])).unwrap();
        add_version(&mut vs, v("b", &[AWSCURRENT, AWSPREVIOUS])).unwrap();
        assert_eq!(stages_of(&vs, "b"), vec![AWSCURRENT, AWSPREVIOUS]);
        assert!(stages_of(&vs, "a").is_empty());
        add_version(&mut vs, v("c", &[AWSCURRENT, AWSCURRENT, "X", "X"])).unwrap();
        assert_eq!(stages_of(&vs, "c"), vec![AWSCURRENT, "X"]);
        assert_eq!(stages_of(&vs, "b"), vec![AWSPREVIOUS]);
    }

    #[test]
    fn twenty_labels_are_counted_across_the_secret() {
        let mut vs = vec![];
        let many: Vec<String> = (0..19).map(|i| format!("L{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        add_version(&mut vs, v("a", &refs)).unwrap();
        assert_eq!(
            add_version(&mut vs, v("b", &["extra"])),
            Err(StagingError::TooManyStages(21))
        );
        assert_eq!(
            move_stage(&mut vs, "extra", None, Some("a")),
            Err(StagingError::TooManyStages(21))
        );
    }

    proptest! {
        // Whatever sequence of writes and moves, a label is never on two versions and there is
        // always exactly one AWSCURRENT.
        #[test]
        fn labels_stay_unique(ops in proptest::collection::vec((0u8..4, 0usize..6, 0usize..6), 1..40)) {
            let labels = [AWSCURRENT, AWSPENDING, "L1", "L2"];
            let mut vs: Vec<V> = vec![];
            let mut n = 0;
            for (op, a, b) in ops {
                let label = labels[a % labels.len()];
                if op == 0 || vs.is_empty() {
                    n += 1;
                    add_version(&mut vs, v(&format!("v{n}"), &[label])).unwrap();
                } else if op == 1 {
                    n += 1;
                    let other = [AWSPREVIOUS, label, AWSCURRENT][b % 3];
                    add_version(&mut vs, v(&format!("v{n}"), &[label, other])).unwrap();
                } else {
                    let from = holder(&vs, label).map(str::to_owned);
                    let to = vs[b % vs.len()].0.clone();
                    if label != AWSCURRENT || from.is_some() {
                        let _ = move_stage(&mut vs, label, from.as_deref(), Some(&to));
                    }
                }
                for l in labels.iter().chain([AWSPREVIOUS].iter()) {
                    let count = vs.iter().filter(|x| x.1.iter().any(|s| s == l)).count();
                    prop_assert!(count <= 1, "{l} on {count} versions");
                }
                prop_assert_eq!(vs.iter().filter(|x| x.1.iter().any(|s| s == AWSCURRENT)).count(), 1);
            }
        }
    }
}
