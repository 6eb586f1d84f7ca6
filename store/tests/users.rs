//! Console users, their sessions and project-scoped tokens, on SQLite and (when
//! `FRICTION_TEST_POSTGRES_URL` is set) PostgreSQL (docs/console.md "Users and sessions").

use friction_store::testing::migrated_dbs;
use friction_store::{hash_api_key, Role, StoreError};
use sqlx::Row;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

#[tokio::test]
async fn users_are_created_found_listed_and_changed() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let project = store.create_project("shop").await?;
        let alice = store.create_user("alice", HASH, Role::Engineer, None).await?;
        let bob = store.create_user("bob@example.com", HASH, Role::Viewer, Some(&project.id)).await?;
        assert_eq!((alice.role, alice.disabled, alice.project_id.as_deref()), (Role::Engineer, false, None));
        assert_eq!(bob.project_id.as_deref(), Some(project.id.as_str()), "{}", db.name());

        let found = store.user_by_username("alice").await?.ok_or("alice")?;
        assert_eq!(found.user, alice);
        assert_eq!(found.password_hash, HASH);
        assert!(!format!("{found:?}").contains(HASH), "Debug hides the hash");
        assert!(store.user_by_username("carol").await?.is_none());

        let names: Vec<String> = store.list_users().await?.into_iter().map(|u| u.username).collect();
        assert_eq!(names, ["alice", "bob@example.com"]);

        assert!(matches!(
            store.create_user("alice", HASH, Role::Admin, None).await,
            Err(StoreError::UserExists(n)) if n == "alice"
        ));
        for bad in ["", "a b", "<script>", &"x".repeat(65)] {
            assert!(
                matches!(
                    store.create_user(bad, HASH, Role::Viewer, None).await,
                    Err(StoreError::InvalidUsername { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            store.create_user("dan", HASH, Role::Viewer, Some("nope")).await,
            Err(StoreError::ProjectNotFound(_))
        ));

        assert_eq!(store.set_user_role("alice", Role::Admin).await?.role, Role::Admin);
        assert!(store.set_user_disabled("alice", true).await?.disabled);
        assert!(!store.set_user_disabled("alice", false).await?.disabled);
        store.set_user_password("alice", "$argon2id$other").await?;
        assert_eq!(store.user_by_username("alice").await?.ok_or("alice")?.password_hash, "$argon2id$other");
        assert_eq!(store.set_user_project("bob@example.com", None).await?.project_id, None);
        assert!(matches!(store.set_user_role("carol", Role::Admin).await, Err(StoreError::UserNotFound(_))));
    }
    Ok(())
}

#[tokio::test]
async fn sessions_are_stored_hashed_expire_and_end() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let user = store.create_user("alice", HASH, Role::Viewer, None).await?;
        let t0 = 1_000_000;
        let new = store.create_session(&user.id, Some("10.0.0.1"), t0, 100, 1_000).await?;
        assert_eq!(new.id.len(), 64);
        assert!(!format!("{new:?}").contains(&new.id), "Debug hides the id");
        let s = &new.session;
        assert_eq!((s.created_at_ms, s.idle_expires_at_ms, s.absolute_expires_at_ms), (t0, t0 + 100, t0 + 1_000));
        assert_eq!(s.ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(s.csrf_token.len(), 64);
        assert_ne!(s.csrf_token, new.id);

        // Only the hash of the id is stored.
        let rows = sqlx::query("SELECT id_hash FROM console_sessions").fetch_all(store.pool()).await?;
        let stored: Vec<String> = rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
        assert_eq!(stored, [hash_api_key(&new.id)], "{}", db.name());

        // Use moves the idle expiry, never past the absolute one.
        store.touch_session(&new.id, t0 + 50, 100).await?;
        let s = store.session_by_id(&new.id).await?.ok_or("session")?;
        assert_eq!((s.last_seen_at_ms, s.idle_expires_at_ms), (t0 + 50, t0 + 150));
        store.touch_session(&new.id, t0 + 950, 100).await?;
        let s = store.session_by_id(&new.id).await?.ok_or("session")?;
        assert_eq!(s.idle_expires_at_ms, t0 + 1_000, "capped at the absolute expiry");
        assert!(store.session_by_id("not-a-session").await?.is_none());

        // Logout ends it; ending it again changes nothing.
        assert!(store.end_session(&new.id, t0 + 960).await?);
        assert!(!store.end_session(&new.id, t0 + 970).await?);
        assert_eq!(store.session_by_id(&new.id).await?.ok_or("session")?.ended_at_ms, Some(t0 + 960));

        // Disabling a user or changing their password ends all their sessions.
        let a = store.create_session(&user.id, None, t0, 100, 1_000).await?;
        let b = store.create_session(&user.id, None, t0, 100, 1_000).await?;
        assert_ne!(a.id, b.id);
        store.set_user_disabled("alice", true).await?;
        for id in [&a.id, &b.id] {
            let s = store.session_by_id(id).await?.ok_or("session")?;
            assert!(s.ended_at_ms.is_some() && s.user.disabled, "{}", db.name());
        }
        store.set_user_disabled("alice", false).await?;
        let c = store.create_session(&user.id, None, t0, 100, 1_000).await?;
        store.set_user_password("alice", HASH).await?;
        assert!(store.session_by_id(&c.id).await?.ok_or("session")?.ended_at_ms.is_some());

        // Old sessions are cleaned up.
        assert_eq!(store.delete_old_sessions(t0 + 2_000_000_000_000).await?, 4);
        assert!(store.session_by_id(&c.id).await?.is_none());
    }
    Ok(())
}

#[tokio::test]
async fn tokens_may_be_limited_to_one_project() -> TestResult {
    for db in migrated_dbs().await? {
        let store = &db.store;
        let project = store.create_project("shop").await?;
        let scoped = store.create_console_token_for(Role::Viewer, Some("shop only"), Some(&project.id)).await?;
        let all = store.create_console_token(Role::Admin, None).await?;
        let found = store.console_token_by_secret(&scoped.secret).await?.ok_or("token")?;
        assert_eq!(found.project_id.as_deref(), Some(project.id.as_str()), "{}", db.name());
        assert_eq!(store.console_token_by_secret(&all.secret).await?.ok_or("token")?.project_id, None);
        assert!(matches!(
            store.create_console_token_for(Role::Viewer, None, Some("nope")).await,
            Err(StoreError::ProjectNotFound(_))
        ));
    }
    Ok(())
}
