//! The workflow engine: a workflow is an ordered list of named steps, each with a `run`
//! and an `undo`, over one serialisable state. Every step is recorded `started` (with the
//! state) before it runs and `done` after, so a restart knows which steps may have
//! happened. When a step fails, the engine undoes it and every earlier step in reverse
//! (undos are idempotent: a `started` step may or may not have happened), then runs the
//! workflow's `failed`. Recovery either resumes a run from its first step not `done`, or
//! undoes every recorded step and runs `interrupted`, as the workflow says.

use common_error::{Error, Result};
use compute_db::{status, step_status, WorkflowCommit};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::failpoint::{self, Point};
use crate::Compute;

/// What a step can reach: the compute service and which run it belongs to.
#[derive(Clone)]
pub(crate) struct Cx {
    pub compute: Compute,
    pub workflow_id: String,
    pub instance_uuid: String,
    /// Failpoint scope: the project of the workflow's instance.
    pub scope: String,
}

impl Cx {
    /// The commit of `W`'s last step with state `st`: given to the instance update that
    /// step makes, so the change and the workflow's end are one transaction.
    pub(crate) fn commit<W: Workflow>(&self, st: &W::State) -> Result<WorkflowCommit> {
        let idx = W::STEPS.len().saturating_sub(1);
        Ok(WorkflowCommit {
            id: self.workflow_id.clone(),
            idx: i64::try_from(idx).map_err(|e| Error::internal("step index", e))?,
            name: W::STEPS.get(idx).copied().unwrap_or_default().to_string(),
            data: encode(st)?,
        })
    }
}

/// What recovery does with a run that a restart interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// Undo every recorded step in reverse, then `interrupted`.
    Undo,
    /// Run again from the first step not recorded `done` (steps must be replayable).
    Resume,
}

/// One kind of workflow.
#[async_trait::async_trait]
pub(crate) trait Workflow: Send + Sync + 'static {
    type State: Serialize + DeserializeOwned + Send + Sync;
    const KIND: &'static str;
    const STEPS: &'static [&'static str];
    const ON_INTERRUPT: Interrupt;

    async fn run(&self, cx: &Cx, step: &str, st: &mut Self::State) -> Result<()>;

    async fn undo(&self, cx: &Cx, step: &str, st: &mut Self::State) -> Result<()>;

    /// After a failed step and the undo of every step up to it.
    async fn failed(&self, cx: &Cx, st: &mut Self::State, err: &Error);

    /// After recovery undid an interrupted run (`Interrupt::Undo` workflows).
    async fn interrupted(&self, cx: &Cx, st: &mut Self::State);

    /// Whether a step's error leaves the run as it is, to be resumed at the next start,
    /// instead of undoing it.
    fn retry_later(&self, _err: &Error) -> bool {
        false
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Done,
    /// A step failed; everything was undone.
    Failed(Error),
    /// A step failed in a way worth retrying; the run waits for the next start.
    Parked(Error),
    /// A failpoint stopped the run dead (tests).
    Crashed,
}

fn decode<S: DeserializeOwned>(data: Value) -> Result<S> {
    serde_json::from_value(data).map_err(|e| Error::internal("decode workflow state", e))
}

fn encode<S: Serialize>(st: &S) -> Result<Value> {
    serde_json::to_value(st).map_err(|e| Error::internal("encode workflow state", e))
}

async fn record<S: Serialize>(cx: &Cx, idx: usize, name: &str, status: &str, st: &S) -> Result<()> {
    let idx = i64::try_from(idx).map_err(|e| Error::internal("step index", e))?;
    cx.compute
        .store
        .workflow_step(&cx.workflow_id, idx, name, status, &encode(st)?)
        .await
}

async fn finish<S: Serialize>(cx: &Cx, status: &str, st: &S, err: Option<&Error>) -> Result<()> {
    let msg = err.map(|e| e.to_string());
    cx.compute
        .store
        .workflow_finish(&cx.workflow_id, status, &encode(st)?, msg.as_deref())
        .await
}

fn crash(cx: &Cx, kind: &str, step: &str, point: Point) -> bool {
    let hit = failpoint::hit(&cx.scope, kind, step, point);
    if hit {
        tracing::warn!(workflow = %cx.workflow_id, kind, step, ?point, "failpoint: workflow stops dead");
    }
    hit
}

/// Undoes the steps `idxs` (in the order given), recording each undone one. Undo errors
/// are logged and the unwinding goes on: what could not be undone is left to the next
/// reconciliation (agent `Sync`, delete).
async fn unwind<W: Workflow>(w: &W, cx: &Cx, st: &mut W::State, idxs: &[usize]) {
    for &idx in idxs {
        let Some(name) = W::STEPS.get(idx) else {
            continue;
        };
        match w.undo(cx, name, st).await {
            Ok(()) => {
                if let Err(e) = record(cx, idx, name, step_status::UNDONE, st).await {
                    tracing::warn!(workflow = %cx.workflow_id, step = name, error = %e, "record undone step");
                }
            }
            Err(e) => {
                tracing::warn!(workflow = %cx.workflow_id, kind = W::KIND, step = name, error = %e, "undo failed");
            }
        }
    }
}

async fn run_from<W: Workflow>(w: &W, cx: &Cx, st: &mut W::State, from: usize) -> Result<Outcome> {
    for (idx, name) in W::STEPS.iter().enumerate().skip(from) {
        record(cx, idx, name, step_status::STARTED, st).await?;
        if crash(cx, W::KIND, name, Point::Started) {
            return Ok(Outcome::Crashed);
        }
        let res = w.run(cx, name, st).await;
        if crash(cx, W::KIND, name, Point::Ran) {
            return Ok(Outcome::Crashed);
        }
        match res {
            Ok(()) => {
                record(cx, idx, name, step_status::DONE, st).await?;
                if crash(cx, W::KIND, name, Point::Done) {
                    return Ok(Outcome::Crashed);
                }
            }
            Err(e) if w.retry_later(&e) => {
                tracing::warn!(workflow = %cx.workflow_id, kind = W::KIND, step = name, error = %e,
                    "step failed; the workflow waits for the next start");
                return Ok(Outcome::Parked(e));
            }
            Err(e) => {
                tracing::info!(workflow = %cx.workflow_id, kind = W::KIND, step = name, error = %e, "step failed; undoing");
                let idxs: Vec<usize> = (0..=idx).rev().collect();
                unwind(w, cx, st, &idxs).await;
                w.failed(cx, st, &e).await;
                finish(cx, status::FAILED, st, Some(&e)).await?;
                return Ok(Outcome::Failed(e));
            }
        }
    }
    finish(cx, status::DONE, st, None).await?;
    Ok(Outcome::Done)
}

/// Runs a freshly claimed workflow from its first step.
pub(crate) async fn start<W: Workflow>(w: &W, cx: &Cx, data: Value) -> Result<Outcome> {
    let mut st: W::State = decode(data)?;
    run_from(w, cx, &mut st, 0).await
}

/// Recovers a run a restart interrupted (status `running`), as `W::ON_INTERRUPT` says.
pub(crate) async fn recover<W: Workflow>(w: &W, cx: &Cx, data: Value) -> Result<Outcome> {
    let mut st: W::State = decode(data)?;
    let steps = cx.compute.store.workflow_steps(&cx.workflow_id).await?;
    let done = steps
        .iter()
        .filter(|s| s.status == step_status::DONE)
        .count();
    if done == W::STEPS.len() {
        // Every step happened: only the workflow's own end was not recorded.
        finish(cx, status::DONE, &st, None).await?;
        return Ok(Outcome::Done);
    }
    match W::ON_INTERRUPT {
        Interrupt::Resume => {
            let from = steps
                .iter()
                .take_while(|s| s.status == step_status::DONE)
                .count();
            tracing::info!(workflow = %cx.workflow_id, kind = W::KIND, from, "resuming workflow");
            run_from(w, cx, &mut st, from).await
        }
        Interrupt::Undo => {
            let mut idxs: Vec<usize> = steps
                .iter()
                .filter(|s| s.status == step_status::STARTED || s.status == step_status::DONE)
                .filter_map(|s| usize::try_from(s.idx).ok())
                .collect();
            idxs.sort_unstable_by(|a, b| b.cmp(a));
            tracing::info!(workflow = %cx.workflow_id, kind = W::KIND, steps = ?idxs, "undoing interrupted workflow");
            unwind(w, cx, &mut st, &idxs).await;
            w.interrupted(cx, &mut st).await;
            let e = Error::Internal("interrupted by a restart of the control plane".into());
            finish(cx, status::FAILED, &st, Some(&e)).await?;
            Ok(Outcome::Failed(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::workflows::testkit::Env;

    /// A workflow that logs what runs into its own state and fails where told.
    struct Toy;

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct ToyState {
        project_id: String,
        fail_at: Option<String>,
        log: Vec<String>,
    }

    #[async_trait::async_trait]
    impl Workflow for Toy {
        type State = ToyState;
        const KIND: &'static str = "toy";
        const STEPS: &'static [&'static str] = &["a", "b", "c"];
        const ON_INTERRUPT: Interrupt = Interrupt::Undo;

        async fn run(&self, _cx: &Cx, step: &str, st: &mut ToyState) -> Result<()> {
            st.log.push(format!("run {step}"));
            if st.fail_at.as_deref() == Some(step) {
                return Err(Error::Internal(format!("{step} broke")));
            }
            Ok(())
        }

        async fn undo(&self, _cx: &Cx, step: &str, st: &mut ToyState) -> Result<()> {
            st.log.push(format!("undo {step}"));
            Ok(())
        }

        async fn failed(&self, _cx: &Cx, st: &mut ToyState, _err: &Error) {
            st.log.push("failed".into());
        }

        async fn interrupted(&self, _cx: &Cx, st: &mut ToyState) {
            st.log.push("interrupted".into());
        }
    }

    async fn toy(env: &Env, scope: &str, fail_at: Option<&str>) -> (Cx, Value) {
        let st = ToyState {
            project_id: scope.into(),
            fail_at: fail_at.map(str::to_string),
            log: vec![],
        };
        let wf = compute_db::NewWorkflow::new("toy", "i-toy", serde_json::to_value(&st).unwrap());
        env.compute.store.workflow_create(&wf).await.unwrap();
        assert!(env.compute.store.workflow_claim(&wf.id).await.unwrap());
        let cx = Cx {
            compute: env.compute.clone(),
            workflow_id: wf.id.clone(),
            instance_uuid: "i-toy".into(),
            scope: scope.into(),
        };
        (cx, wf.data)
    }

    async fn log(cx: &Cx) -> (String, Vec<String>, Vec<String>) {
        let wf = cx
            .compute
            .store
            .workflow_get(&cx.workflow_id)
            .await
            .unwrap()
            .unwrap();
        let st: ToyState = serde_json::from_value(wf.data).unwrap();
        let steps = cx
            .compute
            .store
            .workflow_steps(&cx.workflow_id)
            .await
            .unwrap();
        (
            wf.status,
            st.log,
            steps.into_iter().map(|s| s.status).collect(),
        )
    }

    #[tokio::test]
    async fn a_failed_step_undoes_it_and_every_earlier_one_in_reverse() {
        let env = Env::new(0).await;
        let (cx, data) = toy(&env, "toy-ok", None).await;
        assert_eq!(start(&Toy, &cx, data).await.unwrap(), Outcome::Done);
        let (status, l, steps) = log(&cx).await;
        assert_eq!(
            (status.as_str(), l),
            ("done", vec!["run a".into(), "run b".into(), "run c".into()])
        );
        assert_eq!(steps, vec!["done", "done", "done"]);

        let (cx, data) = toy(&env, "toy-fail", Some("b")).await;
        assert!(matches!(
            start(&Toy, &cx, data).await.unwrap(),
            Outcome::Failed(_)
        ));
        let (status, l, steps) = log(&cx).await;
        assert_eq!(status, "failed");
        assert_eq!(l, vec!["run a", "run b", "undo b", "undo a", "failed"]);
        assert_eq!(steps, vec!["undone", "undone"], "c never started");
    }

    #[tokio::test]
    async fn recovery_undoes_exactly_the_recorded_steps() {
        let env = Env::new(0).await;
        for (step, point, expect) in [
            ("a", Point::Started, vec!["undo a"]),
            ("a", Point::Done, vec!["run a", "undo a"]),
            ("b", Point::Ran, vec!["run a", "undo b", "undo a"]),
            ("c", Point::Done, vec!["run a", "run b", "run c"]),
        ] {
            let scope = format!("toy-{step}-{point:?}");
            failpoint::arm(&scope, "toy", step, point);
            let (cx, data) = toy(&env, &scope, None).await;
            assert_eq!(start(&Toy, &cx, data).await.unwrap(), Outcome::Crashed);
            let wf = cx
                .compute
                .store
                .workflow_get(&cx.workflow_id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(wf.status, "running", "{scope}");
            let out = recover(&Toy, &cx, wf.data).await.unwrap();
            let (status, l, _) = log(&cx).await;
            let mut expect: Vec<String> = expect.into_iter().map(String::from).collect();
            if out == Outcome::Done {
                assert_eq!(
                    (status.as_str(), &l),
                    ("done", &expect),
                    "{scope}: every step had happened"
                );
            } else {
                expect.push("interrupted".into());
                // The state recorded with the last step record: a step that ran but was
                // not recorded done left no trace in it, yet is undone.
                assert_eq!((status.as_str(), &l), ("failed", &expect), "{scope}");
            }
        }
    }
}
