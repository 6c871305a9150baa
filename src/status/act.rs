//! Answer links: `GET /act/<token>` shows the incident and what the link's action will do, with one
//! button; the button `POST`s to the same address, which does it and sends the browser back to
//! the page (303), which then shows the incident as it now stands.
//!
//! A `GET` never changes anything: chat apps, mail scanners and link previews fetch links on their
//! own. A `POST` needs the same token in the form's own hidden field and, when the browser sends
//! them, an `Origin` of this host and `Sec-Fetch-Site: same-origin`. Applying an answer is one
//! conditional write on the incident, so pressing twice, or two people at once, gives one
//! acknowledgement. Every refusal (a forged, changed, expired token, another stack's, an older
//! incident's) is the same 403 page, answered no sooner than [`REFUSAL_FLOOR`] after the request
//! came, so its timing says nothing of why. Only the incident key reaches the log, never a token.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::html::{Look, escape, head_of, local, words};
use super::{Answer as Reply, Request, StatusSite};
use crate::alerting::answers::{self, Action, Answer, Answered, Claim, Unchanged};
use crate::alerting::lifecycle::{Incident, Status};
use crate::alerting::render::Language;
use crate::alerting::state::{Commit, Incidents, Versioned, Write};
use crate::history::Closed;

/// The least time a refusal takes (longer than reading an incident), so that all refusals take
/// the same time.
pub const REFUSAL_FLOOR: Duration = Duration::from_millis(100);
/// Times an answer is written again after a tick changed the incident meanwhile.
const WRITE_ATTEMPTS: usize = 4;
/// The most of a form's body that is read.
pub const MAX_FORM_BYTES: usize = 2048;

/// What a token leads to.
enum Found {
    /// The incident it was made for, still open.
    Open(Box<Versioned>, String),
    /// It was made for an incident that has since closed.
    Closed(Closed),
}

impl StatusSite {
    /// The answer to `/act/<token>`.
    pub(super) async fn act(&self, request: &Request, token: &str, now: DateTime<Utc>) -> Reply {
        let started = tokio::time::Instant::now();
        let answer = self.act_unpaced(request, token, now).await;
        if answer.status == 403 {
            tokio::time::sleep_until(started + REFUSAL_FLOOR).await;
        }
        answer
    }

    async fn act_unpaced(&self, request: &Request, token: &str, now: DateTime<Utc>) -> Reply {
        let look = &self.look;
        let Some(signer) = &self.signer else {
            return Reply::text(404, "answer links are not set up on this stack");
        };
        let posting = match request.method.as_str() {
            "GET" | "HEAD" => false,
            "POST" => true,
            _ => return Reply::text(405, "only GET, HEAD and POST").allowing("GET, HEAD, POST"),
        };
        let claim = match signer.check(token, now) {
            Ok(claim) => claim,
            Err(why) => {
                tracing::info!(?why, "an answer link was refused: 403");
                return refused(look);
            }
        };
        if posting && !same_origin(request, token) {
            tracing::info!("an answer was posted from elsewhere: 403");
            return refused(look);
        }
        let found = match self.find(&claim).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                tracing::info!("an answer link of an older incident: 403");
                return refused(look);
            }
            Err(error) => {
                tracing::warn!(%error, "an answer link could not read the store");
                return Reply::text(503, "the store cannot be read now: try again shortly");
            }
        };
        let (versioned, channel) = match found {
            Found::Closed(closed) => {
                return page(look, &Shown::Closed(closed), claim.action, token);
            }
            Found::Open(versioned, channel) => (*versioned, channel),
        };
        if !posting {
            return page(
                look,
                &Shown::Open(&versioned.incident, now),
                claim.action,
                token,
            );
        }
        let by = request.form("name").as_deref().and_then(answers::name_of);
        match self.apply(&claim, versioned, &channel, by, now).await {
            Ok(_) => Reply::see_other(&format!("/act/{token}")),
            Err(error) => {
                tracing::warn!(%error, "an answer could not be written");
                Reply::text(503, "the answer could not be kept now: try again shortly")
            }
        }
    }

    /// The incident a claim is about: open and opened when the token says, or closed since.
    async fn find(&self, claim: &Claim) -> Result<Option<Found>, crate::ledger::StoreError> {
        let incidents = self.store.load(&claim.function).await?;
        if let Some(versioned) = incidents
            .into_iter()
            .find(|v| claim.is_for(&v.incident.key))
            && versioned.incident.is_answerable(claim.began)
        {
            let channel = claim.channel(versioned.incident.channels.keys()).cloned();
            return Ok(channel.map(|c| Found::Open(Box::new(versioned), c)));
        }
        let closed = self.store.closed(&claim.function, 200).await?;
        Ok(closed
            .into_iter()
            .find(|c| claim.is_for(&c.key) && c.began_at.timestamp() == claim.began)
            .map(Found::Closed))
    }

    /// Applies the claim's action to the incident, written on the condition that nobody changed it
    /// since it was read.
    async fn apply(
        &self,
        claim: &Claim,
        current: Versioned,
        channel: &str,
        by: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Written, crate::ledger::StoreError> {
        let what = match claim.action.until(now, &self.look.timezone) {
            None => Answered::Acknowledged,
            Some(until) => Answered::Silenced { until },
        };
        let answer = Answer {
            what,
            via: channel.to_owned(),
            by,
            at: now,
        };
        write_answer(
            self.store.as_ref(),
            &claim.function,
            current,
            Some(claim.began),
            &answer,
        )
        .await
    }
}

/// What writing an answer came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// It is kept on the incident.
    Kept,
    /// It would change nothing (acknowledged already, silenced as long already).
    Unchanged(Unchanged),
    /// The incident closed (or another opened) before it could be written.
    Closed,
}

/// Gives the open incident `current` of `function` the answer, written on the condition that
/// nobody changed it since it was read; read again and given again when somebody did (a tick, or
/// another press). `began`: only while the incident is the one opened then (to the second).
pub async fn write_answer(
    store: &dyn Incidents,
    function: &str,
    mut current: Versioned,
    began: Option<i64>,
    answer: &Answer,
) -> Result<Written, crate::ledger::StoreError> {
    let key = current.incident.key.clone();
    for _ in 0..WRITE_ATTEMPTS {
        let open = match began {
            Some(began) => current.incident.is_answerable(began),
            None => matches!(current.incident.status, Status::Open | Status::Recovering),
        };
        if !open {
            return Ok(Written::Closed);
        }
        let answered = match answers::answer(
            &current.incident,
            answer.what,
            &answer.via,
            answer.by.clone(),
            answer.at,
        ) {
            Ok(answered) => answered,
            Err(unchanged) => return Ok(Written::Unchanged(unchanged)),
        };
        let commit = Commit {
            function,
            writes: vec![Write {
                incident: &answered,
                expected: Some(current.version),
            }],
            finished_tick: None,
        };
        if store
            .commit(&commit)
            .await?
            .first()
            .copied()
            .flatten()
            .is_some()
        {
            tracing::info!(key = %key, answer = ?answer.what, via = %answer.via, "answered");
            return Ok(Written::Kept);
        }
        match store.get(function, &key).await? {
            Some(again) => current = again,
            None => return Ok(Written::Closed),
        }
    }
    Err(crate::ledger::StoreError::Unavailable(
        "the incident kept changing while the answer was written".into(),
    ))
}

/// True for a form posted from its own page: its hidden field holds the token, and what the browser
/// says of where it was sent from (when it says) is this host.
fn same_origin(request: &Request, token: &str) -> bool {
    let field = request.form("confirm");
    let own_field = field.as_deref() == Some(token);
    let site = request
        .fetch_site
        .as_deref()
        .is_none_or(|site| site.eq_ignore_ascii_case("same-origin"));
    let origin = match (&request.origin, &request.host) {
        (None, _) => true,
        (Some(origin), Some(host)) => url::Url::parse(origin).ok().is_some_and(|o| {
            let port = o.port().map(|p| format!(":{p}")).unwrap_or_default();
            o.host_str()
                .is_some_and(|h| format!("{h}{port}").eq_ignore_ascii_case(host))
        }),
        (Some(_), None) => false,
    };
    own_field && site && origin
}

/// What the page shows.
enum Shown<'a> {
    Open(&'a Incident, DateTime<Utc>),
    Closed(Closed),
}

/// The same 403 page for every refusal.
fn refused(look: &Look) -> Reply {
    let title = words(look.language, "This link does not work", "此链接无效");
    let body = format!(
        "{}<main><h1>{}</h1><p>{}</p></main></body></html>",
        head_of(look, title, false),
        escape(title),
        escape(words(
            look.language,
            "It is changed, expired (links work 7 days), from another stack, or for an earlier incident. Use a link from the latest message.",
            "链接已被改动、已过期（有效期 7 天）、来自其他部署，或属于更早的故障。请使用最新消息中的链接。"
        ))
    );
    Reply::html(403, body).no_store()
}

fn action_words(language: Language, action: Action) -> (&'static str, &'static str) {
    let w = |en, zh| words(language, en, zh);
    match action {
        Action::Acknowledge => (
            w("Acknowledge", "确认处理"),
            w(
                "No more escalation notices for this incident on any channel; every channel already told hears who took it. The recovery is still sent.",
                "此故障不再升级通知（所有渠道）；已收到通知的渠道会收到一条确认消息。恢复时仍会通知。",
            ),
        ),
        Action::SilenceHour => (
            w("Silence 1 h", "静默 1 小时"),
            w(
                "No notices for this incident for an hour; then the escalation resumes with the step that came due. A recovery is still sent.",
                "1 小时内不发送此故障的通知，之后从当时应到的一级继续升级。恢复时仍会通知。",
            ),
        ),
        Action::SilenceFourHours => (
            w("Silence 4 h", "静默 4 小时"),
            w(
                "No notices for this incident for four hours; then the escalation resumes with the step that came due. A recovery is still sent.",
                "4 小时内不发送此故障的通知，之后从当时应到的一级继续升级。恢复时仍会通知。",
            ),
        ),
        Action::SilenceTomorrow => (
            w("Silence until tomorrow 09:00", "静默至明天 09:00"),
            w(
                "No notices for this incident until 09:00 tomorrow; then the escalation resumes with the step that came due. A recovery is still sent.",
                "明天 09:00 前不发送此故障的通知，之后从当时应到的一级继续升级。恢复时仍会通知。",
            ),
        ),
    }
}

/// The page of a link: the incident, where it stands, and the action's one button when pressing it
/// would change something.
fn page(look: &Look, shown: &Shown<'_>, action: Action, token: &str) -> Reply {
    let language = look.language;
    let (label, what) = action_words(language, action);
    let mut out = head_of(look, &format!("{label} · {}", look.title), false);
    out.push_str("<main>");
    match shown {
        Shown::Closed(closed) => {
            out.push_str(&format!(
                "<h1>{}</h1><div class=\"monitor\"><p>{}</p><p class=\"when\">{} {} – {}</p></div><p>{}</p>",
                escape(&closed.key),
                escape(&closed.message),
                escape(words(language, "Down", "故障")),
                escape(&local(look, closed.began_at)),
                escape(&local(look, closed.ended_at)),
                escape(words(
                    language,
                    "It has recovered: there is nothing left to answer.",
                    "已恢复：无需再处理。"
                )),
            ));
        }
        Shown::Open(incident, now) => {
            out.push_str(&format!(
                "<h1>{}</h1><div class=\"monitor\"><p class=\"state down\">{}</p><p class=\"message\">{}</p><p class=\"when\">{} {}</p></div>",
                escape(&incident.target),
                escape(words(language, "Failing", "故障中")),
                escape(&incident.message),
                escape(words(language, "Since", "开始于")),
                escape(&incident.began_at.map(|b| local(look, b)).unwrap_or_default()),
            ));
            let mut settled = false;
            if let Some(done) = incident.acknowledged() {
                settled = true;
                out.push_str(&format!(
                    "<p class=\"answered\" data-answer=\"acknowledged\">{} {}{} · {}</p>",
                    escape(words(language, "Acknowledged via", "已确认，经由")),
                    escape(&done.via),
                    done.by
                        .as_deref()
                        .map(|by| format!(" ({})", escape(by)))
                        .unwrap_or_default(),
                    escape(&local(look, done.at)),
                ));
            }
            if let Some(until) = incident.silenced_until(*now) {
                // A silence no longer than the one given changes nothing.
                if action
                    .until(*now, &look.timezone)
                    .is_some_and(|would| would <= until)
                {
                    settled = true;
                }
                out.push_str(&format!(
                    "<p class=\"answered\" data-answer=\"silenced\">{} {}</p>",
                    escape(words(language, "Silenced until", "静默至")),
                    escape(&local(look, until)),
                ));
            }
            if settled {
                out.push_str(&format!(
                    "<p>{}</p>",
                    escape(words(
                        language,
                        "Nothing left to do with this link.",
                        "此链接已无需操作。"
                    ))
                ));
            } else {
                out.push_str(&format!(
                    "<p>{}</p><form method=\"post\"><input type=\"hidden\" name=\"confirm\" value=\"{}\">\
<p><label>{} <input type=\"text\" name=\"name\" maxlength=\"{}\" autocomplete=\"name\"></label></p>\
<button type=\"submit\">{}</button></form>",
                    escape(what),
                    escape(token),
                    escape(words(language, "Your name (optional)", "你的名字（可选）")),
                    answers::MAX_NAME_CHARS,
                    escape(label),
                ));
            }
        }
    }
    out.push_str("</main></body></html>");
    Reply::html(200, out).no_store().with_form()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fields: &str, origin: Option<&str>, site: Option<&str>) -> Request {
        Request {
            method: "POST".into(),
            path: "/act/TOKEN".into(),
            body: fields.into(),
            origin: origin.map(str::to_owned),
            fetch_site: site.map(str::to_owned),
            host: Some("abc.lambda-url.us-east-1.on.aws".into()),
            ..Request::default()
        }
    }

    #[test]
    fn a_post_counts_only_from_its_own_form() {
        let own = "https://abc.lambda-url.us-east-1.on.aws";
        assert!(same_origin(
            &request("confirm=TOKEN", Some(own), Some("same-origin")),
            "TOKEN"
        ));
        assert!(same_origin(
            &request("confirm=TOKEN&name=Li", None, None),
            "TOKEN"
        ));
        for bad in [
            request("confirm=OTHER", Some(own), None),
            request("name=Li", Some(own), None),
            request("confirm=TOKEN", Some("https://evil.example"), None),
            request("confirm=TOKEN", Some("null"), None),
            request("confirm=TOKEN", Some(own), Some("cross-site")),
            request("confirm=TOKEN", None, Some("same-site")),
        ] {
            assert!(!same_origin(&bad, "TOKEN"), "{bad:?}");
        }
    }
}
