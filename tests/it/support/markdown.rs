//! Reading Markdown, as much as the tests of the docs need: lines and
//! whether they are inside a fenced code block, headings, and the section
//! under a heading. One small reader for docs.rs and readme.rs.

/// One line of a Markdown file, and whether it is inside a fenced code block
/// (fences included), where nothing is a heading, a table or a link.
pub struct Line<'a> {
    pub text: &'a str,
    pub in_code: bool,
}

/// The lines of `markdown`, each knowing whether it is in a code block.
pub fn lines(markdown: &str) -> Vec<Line<'_>> {
    let mut in_code = false;
    markdown
        .lines()
        .map(|text| {
            let fence = text.trim_start().starts_with("```");
            let line = Line {
                text,
                in_code: in_code || fence,
            };
            if fence {
                in_code = !in_code;
            }
            line
        })
        .collect()
}

/// A heading line's level and text (`## The server's flags` → 2, "The
/// server's flags"), outside code blocks.
pub fn heading(line: &Line<'_>) -> Option<(usize, String)> {
    if line.in_code {
        return None;
    }
    let level = line.text.chars().take_while(|&c| c == '#').count();
    let rest = line.text.get(level..)?;
    if level == 0 || level > 6 || !rest.starts_with(' ') {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim().to_owned()))
}

/// The lines of the section under the heading `title` (any level), up to the
/// next heading of that level or above; `None` if there is no such heading.
pub fn section<'a>(markdown: &'a str, title: &str) -> Option<Vec<Line<'a>>> {
    let all = lines(markdown);
    let start = all
        .iter()
        .position(|line| heading(line).is_some_and(|(_, text)| text == title))?;
    let (level, _) = heading(&all[start]).expect("a heading");
    Some(
        all.into_iter()
            .skip(start + 1)
            .take_while(|line| heading(line).is_none_or(|(l, _)| l > level))
            .collect(),
    )
}
