//! `opentrail match`: Print the events an EventBridge pattern matches (grep for events).

/// Command-line arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Arguments, not read yet.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Runs the command; returns the process exit status.
pub fn run(_args: Args) -> i32 {
    eprintln!("opentrail: this command is not built yet");
    2
}
