//! `friction`: one CLI for operators. All logic lives in the `friction_cli` library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    friction_runtime::allocator::tune();
    let cli = friction_cli::Cli::parse();
    friction_runtime::logging::init(cli.common.log_format, &cli.common.log);
    match friction_cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
