//! Rescue and unrescue through the agent over the in-process bus, with the fake driver
//! underneath: the rescue image comes through the image cache, replays succeed, errors keep
//! their meaning.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::Ordering;

use common_error::Error;
use compute_agent::BASE_DIR;
use compute_model::rpc::{AgentRequest, ConsoleReply};
use compute_model::PowerState;
use support::*;

#[tokio::test]
async fn rescue_boots_the_cached_rescue_image_and_unrescue_the_instance_again() {
    let w = World::new().await;
    let agent = w.start(w.config()).await;
    w.call(AgentRequest::Spawn { spec: spec("a1") })
        .await
        .unwrap();
    let rescue = AgentRequest::Rescue {
        spec: spec("a1"),
        rescue_image_id: RESCUE_IMAGE.into(),
    };
    assert_eq!(
        power_state(w.call(rescue.clone()).await.unwrap()),
        PowerState::Running
    );
    let cached = w.dir.path().join(BASE_DIR).join(RESCUE_IMAGE);
    assert_eq!(w.fake.rescue_image("a1"), Some(cached.clone()));
    assert_eq!(
        power_state(w.call(rescue).await.unwrap()),
        PowerState::Running,
        "a replayed rescue succeeds"
    );
    assert_eq!(
        w.images.downloads.load(Ordering::SeqCst),
        2,
        "the instance's image and the rescue image, each once"
    );
    let unrescue = AgentRequest::Unrescue { spec: spec("a1") };
    assert_eq!(
        power_state(w.call(unrescue.clone()).await.unwrap()),
        PowerState::Running
    );
    assert_eq!(w.fake.rescue_image("a1"), None);
    assert_eq!(
        power_state(w.call(unrescue).await.unwrap()),
        PowerState::Running,
        "a replayed unrescue succeeds"
    );
    let log: ConsoleReply = serde_json::from_value(
        w.call(AgentRequest::ConsoleOutput {
            uuid: "a1".into(),
            length: Some(2),
        })
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        log.output,
        format!("fake: rescued from {}\nfake: unrescued\n", cached.display())
    );

    // Errors keep their meaning: an unknown VM, a missing or bad rescue image.
    let err = w
        .call(AgentRequest::Rescue {
            spec: spec("nope"),
            rescue_image_id: RESCUE_IMAGE.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err, Error::not_found("instance", "nope"));
    let err = w
        .call(AgentRequest::Rescue {
            spec: spec("a1"),
            rescue_image_id: "missing-rescue".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err, Error::not_found("image", "missing-rescue"));
    let err = w
        .call(AgentRequest::Rescue {
            spec: spec("a1"),
            rescue_image_id: "../x".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadRequest(_)), "{err:?}");
    assert_eq!(w.fake.rescue_image("a1"), None, "nothing was rescued");
    agent.stop().await;
}
