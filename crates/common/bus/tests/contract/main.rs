//! The bus contract, run against every implementation: each case in `suite` becomes one
//! test per bus (`inproc::<case>` and `amqp::<case>`).
//!
//! The AMQP cases connect to `FERROSTACK_TEST_AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`) and FAIL when the broker is unreachable: CI runs
//! RabbitMQ. Every case uses uuid-suffixed topics and event types, and only exclusive or
//! auto-delete queues besides RPC queues that expire (see `amqp_bus`), so parallel tests and
//! repeated runs never see each other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;

use std::{sync::Arc, time::Duration};

use common_bus::{AmqpBus, AmqpConfig, Bus, InProcBus};

const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

fn inproc_bus() -> Arc<dyn Bus> {
    Arc::new(InProcBus::new())
}

async fn amqp_bus() -> Arc<dyn Bus> {
    let url =
        std::env::var("FERROSTACK_TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.to_owned());
    let config = AmqpConfig {
        // Test topics are unique per run; let the broker drop their queues soon after.
        rpc_queue_expiry: Duration::from_secs(60),
        ..AmqpConfig::default()
    };
    match AmqpBus::connect_with(&url, config).await {
        Ok(bus) => Arc::new(bus),
        Err(err) => panic!(
            "RabbitMQ is required for the AMQP contract tests (set FERROSTACK_TEST_AMQP_URL; \
             start it with `rabbitmq-server -detached`): {err}"
        ),
    }
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod inproc {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    crate::suite::$case(crate::inproc_bus()).await;
                }
            )*
        }
        mod amqp {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    crate::suite::$case(crate::amqp_bus().await).await;
                }
            )*
        }
    };
}

contract!(
    call_round_trip,
    handler_errors_keep_variant_and_message,
    handler_panic_is_an_internal_error,
    call_without_server_times_out,
    two_servers_share_the_load,
    cast_is_delivered_once,
    cast_before_any_server_is_kept,
    notifications_fan_out_and_filter,
    concurrent_calls_are_correlated,
    stop_ends_delivery_to_the_server,
    dropping_the_handle_stops_the_server,
    invalid_names_are_bad_requests,
);
