//! A key's limits on every backend (SQLite always, PostgreSQL when FRICTION_TEST_POSTGRES_URL is
//! set): clearing the rate and setting it again, many times over the pool's connections, always
//! works (sqlx 0.8's Any driver once made a cleared rate break later ones on PostgreSQL).

use friction_store::testing::migrated_dbs;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::test]
async fn a_rate_can_be_cleared_and_set_again_on_every_connection() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        store.create_project("shop").await?;
        let key = store.create_api_key("shop", Some("web")).await?.key;
        let origins = vec!["https://shop.example".to_owned()];
        // More rounds than the pool has connections, so each connection sees both statements.
        for round in 0..30 {
            let cleared = store.set_api_key_limits(&key.id, &origins, None).await?;
            assert_eq!(cleared.rate_limit_per_sec, None, "{} round {round}", db.name());
            let rate = 1.5 + f64::from(round);
            let set = store.set_api_key_limits(&key.id, &origins, Some(rate)).await?;
            assert_eq!(set.rate_limit_per_sec, Some(rate), "{} round {round}", db.name());
        }
    }
    Ok(())
}
