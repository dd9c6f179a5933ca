-- Hand-built threads for tests/test_track.py: one contact per case, times in UTC (March 2026,
-- Bucharest is UTC+2). Message-IDs are stored without angle brackets, as the parsers do.

INSERT INTO contacts (contact_id, full_name, email, phone) VALUES
    (1, 'Ana Ionescu',      'ana@example.org',    NULL),
    (2, 'Bogdan Marin',     'bogdan@example.org', NULL),
    (3, 'Carmen Dobre',     'carmen@example.org', NULL),
    (4, 'Dan Stoica',       NULL,                 '+40722000004'),
    (5, 'Elena Radu',       'elena@example.org',  NULL),
    (6, 'Florin Pop',       'florin@example.org', NULL),
    (7, 'Gina Lazăr',       'gina@example.org',   NULL),
    (8, 'Horia Ene',        'horia@example.org',  '+40722000008'),
    (9, 'Ioana Vlad',       'ioana@example.org',  NULL),
    (10, 'Jana Preda',      NULL,                 '+40722000010'),
    (11, 'Kiki Munteanu',   'kiki@example.org',   NULL);

INSERT INTO messages (message_id, contact_id, campaign, channel, status, is_marketing, sent_at, smtp_message_id) VALUES
    -- A: our appeal, then our follow-up in the same thread
    ('a-appeal',     1, 'primavara', 'email', 'sent', true,  '2026-03-02 10:00:00+00', 'a-appeal@asociatia-exemplu.ro'),
    ('a-followup',   1, 'primavara', 'email', 'sent', true,  '2026-03-04 10:00:00+00', 'a-followup@asociatia-exemplu.ro'),
    -- B: the reply's clock runs 3 minutes early; another reply claims to be 2 days early
    ('b-news',       2, 'newsletter', 'email', 'sent', true, '2026-03-02 10:00:00+00', 'b-news@asociatia-exemplu.ro'),
    ('b-old',        2, 'newsletter', 'email', 'sent', true, '2026-03-10 10:00:00+00', 'b-old@asociatia-exemplu.ro'),
    -- C: two replies
    ('c-invite',     3, 'gala', 'email', 'sent', true,       '2026-03-03 08:00:00+00', 'c-invite@asociatia-exemplu.ro'),
    -- D: texts answered inside and outside the 7-day window
    ('d-sms-1',      4, 'gala', 'sms', 'sent', true,         '2026-03-02 10:00:00+00', NULL),
    ('d-sms-2',      4, 'gala', 'sms', 'sent', true,         '2026-03-10 10:00:00+00', NULL),
    -- E: an appeal answered by a gift; a receipt is no appeal; a refunded gift is no answer
    ('e-appeal',     5, 'primavara', 'email', 'sent', true,  '2026-03-02 10:00:00+00', 'e-appeal@asociatia-exemplu.ro'),
    ('e-receipt',    5, 'multumim', 'email', 'sent', false,  '2026-03-04 20:05:00+00', 'e-receipt@asociatia-exemplu.ro'),
    ('e-appeal-2',   5, 'vara', 'email', 'sent', true,       '2026-03-20 10:00:00+00', 'e-appeal-2@asociatia-exemplu.ro'),
    -- F: out-of-office first, the real reply a week later
    ('f-news',       6, 'newsletter', 'email', 'sent', true, '2026-03-02 10:00:00+00', 'f-news@asociatia-exemplu.ro'),
    -- I: a newsletter is no answer; our reply also came back from the Sent folder
    ('i-newsletter', 9, 'newsletter', 'email', 'sent', true, '2026-03-03 11:00:00+00', 'i-newsletter@asociatia-exemplu.ro'),
    ('i-reply',      9, NULL, 'email', 'sent', false,        '2026-03-04 08:00:00+00', 'i-reply@asociatia-exemplu.ro'),
    -- J: a transactional text no interaction records
    ('j-reply',     10, NULL, 'sms', 'sent', false,          '2026-03-03 10:30:00+00', NULL),
    -- never sent: no row in response_times
    ('z-queued',     1, 'vara', 'email', 'queued', true,     NULL, NULL);

INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at, subject, body,
                          external_id, in_reply_to, "references", is_auto_reply, awaits_answer, message_id) VALUES
    -- A: Ana answers our follow-up (a reply to a reply: References still names the appeal); we answer her
    ('email:a-reply', 1, 'email', 'inbound', 'message', '2026-03-04 18:30:00+00', 'Re: Re: Primăvara', 'Da, particip!',
     'a-reply@example.org', 'a-followup@asociatia-exemplu.ro',
     ['a-appeal@asociatia-exemplu.ro', 'a-followup@asociatia-exemplu.ro'], false, true, NULL),
    ('email:a-answer', 1, 'email', 'outbound', 'message', '2026-03-05 09:00:00+00', 'Re: Re: Re: Primăvara', 'Mulțumim!',
     'a-answer@asociatia-exemplu.ro', 'a-reply@example.org', ['a-appeal@asociatia-exemplu.ro', 'a-reply@example.org'],
     false, false, NULL),
    -- B: reply dated 09:57 to our 10:00 mail; our answer dated 09:55 to it (our clock is behind too)
    ('email:b-early', 2, 'email', 'inbound', 'message', '2026-03-02 09:57:00+00', 'Re: Noutăți', 'Mulțumesc',
     'b-early@example.org', 'b-news@asociatia-exemplu.ro', ['b-news@asociatia-exemplu.ro'], false, true, NULL),
    ('email:b-answer', 2, 'email', 'outbound', 'message', '2026-03-02 09:55:00+00', 'Re: Re: Noutăți', 'Cu drag',
     'b-answer@asociatia-exemplu.ro', 'b-early@example.org', NULL, false, false, NULL),
    ('email:b-bogus', 2, 'email', 'inbound', 'message', '2026-03-08 09:00:00+00', 'Re: Noutăți', 'Dată greșită',
     'b-bogus@example.org', 'b-old@asociatia-exemplu.ro', NULL, false, true, NULL),
    -- C: the later reply is recorded first
    ('email:c-second', 3, 'email', 'inbound', 'message', '2026-03-03 12:00:00+00', 'Re: Gala', 'Și soțul meu vine',
     'c-second@example.org', 'c-invite@asociatia-exemplu.ro', NULL, false, true, NULL),
    ('email:c-first', 3, 'email', 'inbound', 'message', '2026-03-03 09:15:00+00', 'Re: Gala', 'Vin!',
     'c-first@example.org', 'c-invite@asociatia-exemplu.ro', NULL, false, true, NULL),
    -- D: a text 3 days after d-sms-1; 8 days after d-sms-2; an unthreaded email in between
    ('twilio:SMd1', 4, 'sms', 'inbound', 'message', '2026-03-05 10:00:00+00', NULL, 'Vin la gala',
     'SMd1', NULL, NULL, false, true, NULL),
    ('email:d-mail', 4, 'email', 'inbound', 'message', '2026-03-11 10:00:00+00', 'Întrebare', 'Unde e gala?',
     'd-mail@example.org', NULL, NULL, false, true, NULL),
    ('twilio:SMd2', 4, 'sms', 'inbound', 'message', '2026-03-18 10:00:00+00', NULL, 'Prea târziu?',
     'SMd2', NULL, NULL, false, true, NULL),
    -- F: out-of-office (flagged as awaiting by mistake: still ignored), then the real reply; our
    -- autoresponder acknowledges it, a person answers later
    ('email:f-ooo', 6, 'email', 'inbound', 'message', '2026-03-02 10:01:00+00', 'Out of office', 'Sunt în concediu',
     'f-ooo@example.org', 'f-news@asociatia-exemplu.ro', NULL, true, true, NULL),
    ('email:f-real', 6, 'email', 'inbound', 'message', '2026-03-09 08:00:00+00', 'Re: Noutăți', 'Am o întrebare',
     'f-real@example.org', 'f-news@asociatia-exemplu.ro', ['f-news@asociatia-exemplu.ro'], false, true, NULL),
    ('email:f-autoack', 6, 'email', 'outbound', 'message', '2026-03-09 08:01:00+00', 'Am primit mesajul', 'Răspundem curând',
     'f-autoack@asociatia-exemplu.ro', 'f-real@example.org', NULL, true, false, NULL),
    ('email:f-answer', 6, 'email', 'outbound', 'message', '2026-03-09 15:00:00+00', 'Re: Noutăți', 'Iată răspunsul',
     'f-answer@asociatia-exemplu.ro', 'f-real@example.org', NULL, false, false, NULL),
    -- G: a form request nobody answered
    ('form:g-request', 7, 'form', 'inbound', 'form_request', '2026-03-05 09:00:00+00', 'Voluntariat',
     'Cum pot deveni voluntar?', NULL, NULL, NULL, false, true, NULL),
    -- H: an email question answered by a text
    ('email:h-question', 8, 'email', 'inbound', 'message', '2026-03-03 10:00:00+00', 'Sponsorizare', 'Ne puteți suna?',
     'h-question@example.org', NULL, NULL, false, true, NULL),
    ('sms:h-callback', 8, 'sms', 'outbound', 'message', '2026-03-03 13:00:00+00', NULL, 'Vă sunăm mâine la 10',
     NULL, NULL, NULL, false, false, NULL),
    -- I: a Facebook question; the newsletter's delivery record; our reply as the Sent folder has it
    ('facebook:i-msg', 9, 'social', 'inbound', 'message', '2026-03-03 10:00:00+00', NULL, 'Ce program aveți?',
     NULL, NULL, NULL, false, true, NULL),
    ('delivery:i-newsletter', 9, 'email', 'outbound', 'message', '2026-03-03 11:00:00+00', 'Noutăți', NULL,
     'i-newsletter@asociatia-exemplu.ro', NULL, NULL, false, false, 'i-newsletter'),
    ('email:i-reply-copy', 9, 'email', 'outbound', 'message', '2026-03-04 08:00:02+00', 'Programul nostru', NULL,
     'i-reply@asociatia-exemplu.ro', NULL, NULL, false, false, NULL),
    -- J: a text question
    ('twilio:SMj1', 10, 'sms', 'inbound', 'message', '2026-03-03 10:00:00+00', NULL, 'Cum donez?',
     'SMj1', NULL, NULL, false, true, NULL),
    -- K: answered 30 hours later
    ('email:k-question', 11, 'email', 'inbound', 'message', '2026-03-06 09:00:00+00', 'Factura', 'Îmi trimiteți factura?',
     'k-question@example.org', NULL, NULL, false, true, NULL),
    ('email:k-answer', 11, 'email', 'outbound', 'message', '2026-03-07 15:00:00+00', 'Re: Factura', 'Atașat',
     'k-answer@asociatia-exemplu.ro', 'k-question@example.org', NULL, false, false, NULL);

INSERT INTO donations (donation_id, contact_id, amount, amount_refunded, currency, donated_at, source) VALUES
    ('stripe:ch_e1', 5, 100, 0, 'RON', '2026-03-04 20:00:00+00', 'stripe'),
    ('stripe:ch_e2', 5, 100, 0, 'RON', '2026-03-06 10:00:00+00', 'stripe'),
    ('stripe:ch_e3', 5, 50, 50, 'RON', '2026-03-21 10:00:00+00', 'stripe');
