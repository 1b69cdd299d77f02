// Hide the console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // The demo scenario trains with `${switchyard} train-demo …`; in the desktop app that
    // program is this one.
    if let Some(code) = switchyard::scenario::demo_trainer::main_if_requested(std::env::args()) {
        std::process::exit(code);
    }
    switchyard_desktop::run();
}
