//! The font plotters measures (SVG) and draws (PNG) chart text with.
//!
//! plotters' `ab_glyph` backend keeps a process-wide table of registered fonts, so the font is
//! registered once per process, from a system TrueType file: DejaVu Sans on Debian
//! (`fonts-dejavu-core`), else the usual sans-serif of other systems, or the file named by
//! `SWITCHYARD_REPORT_FONT`. Nothing is fetched and no font is bundled in the binary.

use std::path::PathBuf;
use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};

/// The family name charts use; the SVG asks the browser for the same generic family.
pub const FAMILY: &str = "sans-serif";

const REGULAR: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

const BOLD: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    "/Library/Fonts/Arial Bold.ttf",
    "C:\\Windows\\Fonts\\arialbd.ttf",
];

static REGISTERED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// Registers the chart font (once); an error says which package to install.
pub fn ensure() -> Result<()> {
    match REGISTERED.get_or_init(register) {
        Ok(_) => Ok(()),
        Err(message) => Err(Error::Internal(message.clone())),
    }
}

fn read_first(candidates: &[&str]) -> Option<(PathBuf, Vec<u8>)> {
    candidates.iter().map(PathBuf::from).find_map(|p| std::fs::read(&p).ok().map(|bytes| (p, bytes)))
}

fn register() -> std::result::Result<PathBuf, String> {
    let custom = std::env::var_os("SWITCHYARD_REPORT_FONT").map(PathBuf::from);
    let regular = match &custom {
        Some(p) => std::fs::read(p).ok().map(|bytes| (p.clone(), bytes)),
        None => read_first(REGULAR),
    };
    let Some((path, bytes)) = regular else {
        return Err(
            "charts need a TrueType font: install DejaVu Sans (Debian: apt-get install fonts-dejavu-core) or set SWITCHYARD_REPORT_FONT to a .ttf file"
                .to_owned(),
        );
    };
    // plotters keeps registered fonts for the life of the process and wants 'static bytes:
    // each font is read and leaked once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font(FAMILY, FontStyle::Normal, bytes)
        .map_err(|_| format!("{} is not a TrueType font plotters can read", path.display()))?;
    // Bold falls back to the regular face when no bold file is found.
    if custom.is_none()
        && let Some((_, bold)) = read_first(BOLD)
    {
        let bold: &'static [u8] = Box::leak(bold.into_boxed_slice());
        let _ = register_font(FAMILY, FontStyle::Bold, bold);
    }
    Ok(path)
}
