-- Hand-built data for tests/test_segments.py, judged as of 2026-03-15 in Europe/Bucharest
-- (UTC+2 in winter, UTC+3 from 2025-03-30 to 2025-10-26). Timestamps carry their local offset.
-- Windows as of 2026-03-15: 12 months (2025-03-15, 2026-03-15]; 90 days: after 2025-12-15;
-- 6 months: after 2025-09-15; 36 months: after 2023-03-15; this year 2026, last year 2025.

INSERT INTO contacts (contact_id, full_name, kind) VALUES
    (1, 'Ana Exact-Doisprezece', 'person'),     -- one gift exactly 12 months before: lapsed, lybunt
    (2, 'Bogdan Miezul-Noptii', 'person'),      -- 2025-03-16 00:30 local (still the 15th in UTC): active, lybunt
    (3, 'Carmen Revenita', 'person'),           -- 2024 gift, then 2026-01-01 00:15 local: active, not lybunt
    (4, 'Dan Revelion', 'person'),              -- only gift 2025-12-31 23:30 local: first-time, active, lybunt
    (5, 'Elena Rambursata', 'person'),          -- only gift fully refunded: in no donor segment
    (6, 'Florin Partial', 'person'),            -- 6000 RON less 1500 refunded = 4500: not major
    (7, 'Gabriela Euro', 'person'),             -- 1000 EUR (4970 RON) + 30 RON = 5000: major
    (8, 'Horia Lunar', 'person'),               -- gifts in Oct, Nov, Jan: recurring
    (9, 'Ioana Doua-Luni', 'person'),           -- Sep 15 (outside 6 months), Oct twice, Feb: not recurring
    (10, 'Julia Demult', 'person'),             -- only gift 2023-05-01: sybunt, lapsed
    (11, 'Kiril Treizecisisase', 'person'),     -- only gift exactly 36 months before: sybunt, not lapsed
    (12, 'Liviu Treizeci', 'person'),           -- first shift exactly 30 days before: active, not new
    (13, 'Mara Noua', 'person'),                -- first shift 29 days before: new, active
    (14, 'Nicu Plecat', 'person'),              -- last shift exactly 180 days before: lapsed
    (15, 'Olga Intre', 'person'),               -- last shift 179 days before: neither active nor lapsed
    (20, 'Alfa SRL', 'organisation'),           -- sponsor ending in exactly 60 days: active, renewal due
    (21, 'Beta Media', 'organisation'),         -- media ending in 61 days: active
    (22, 'Gamma Fundatie', 'organisation'),     -- endorser ended 2025-12-31: past
    (23, 'Delta Coalitie', 'organisation'),     -- coalition starting 2026-04-01: prospect
    (24, 'Epsilon ONG', 'organisation'),        -- ngo, open-ended since 2020: active
    (25, 'Zeta Licente', 'organisation'),       -- licensee ending today, renewal already signed: active, renewal due
    (26, 'Eta Sponsor', 'organisation'),        -- old sponsor agreement ended, new one starts today: active
    (27, 'Theta Necunoscut', 'organisation'),   -- no agreement at all: prospect
    (30, 'Petra Tacuta', 'person'),             -- wrote to us in 2024, silent since: unresponsive
    (31, 'Radu Raspuns', 'person'),             -- wrote 2025-03-16 00:30 local: not unresponsive
    (32, 'Sorin Nou', 'person'),                -- only written to by us: unresponsive
    (33, 'Tudor Fara-Istoric', 'person'),       -- no interaction ever: unresponsive (DESIGN)
    (35, 'Ursula Granita', 'person');           -- last inbound exactly 12 months before: unresponsive

INSERT INTO donations (donation_id, contact_id, amount, amount_refunded, currency, amount_base, net_amount_base,
                       donated_at, recurring, source) VALUES
    ('t:1',  1, 100, 0, 'RON', 100, 100, '2025-03-15 12:00:00+02', false, 'test'),
    ('t:2',  2, 100, 0, 'RON', 100, 100, '2025-03-16 00:30:00+02', false, 'test'),
    ('t:3a', 3, 50, 0, 'RON', 50, 50, '2024-06-01 10:00:00+03', false, 'test'),
    ('t:3b', 3, 50, 0, 'RON', 50, 50, '2026-01-01 00:15:00+02', false, 'test'),
    ('t:4',  4, 70, 0, 'RON', 70, 70, '2025-12-31 23:30:00+02', false, 'test'),
    ('t:5',  5, 100, 100, 'RON', 100, 0, '2026-02-01 10:00:00+02', false, 'test'),
    ('t:6',  6, 6000, 1500, 'RON', 6000, 4500, '2026-02-10 10:00:00+02', false, 'test'),
    ('t:7a', 7, 1000, 0, 'EUR', 4970, 4970, '2025-06-01 10:00:00+03', false, 'test'),
    ('t:7b', 7, 30, 0, 'RON', 30, 30, '2026-02-01 10:00:00+02', false, 'test'),
    ('t:8a', 8, 20, 0, 'RON', 20, 20, '2025-10-05 10:00:00+03', true, 'test'),
    ('t:8b', 8, 20, 0, 'RON', 20, 20, '2025-11-05 10:00:00+02', true, 'test'),
    ('t:8c', 8, 20, 0, 'RON', 20, 20, '2026-01-05 10:00:00+02', true, 'test'),
    ('t:9a', 9, 20, 0, 'RON', 20, 20, '2025-09-15 10:00:00+03', false, 'test'),
    ('t:9b', 9, 20, 0, 'RON', 20, 20, '2025-10-20 10:00:00+03', false, 'test'),
    ('t:9c', 9, 20, 0, 'RON', 20, 20, '2025-10-25 10:00:00+03', false, 'test'),
    ('t:9d', 9, 20, 0, 'RON', 20, 20, '2026-02-01 10:00:00+02', false, 'test'),
    ('t:10', 10, 40, 0, 'RON', 40, 40, '2023-05-01 10:00:00+03', false, 'test'),
    ('t:11', 11, 40, 0, 'RON', 40, 40, '2023-03-15 10:00:00+02', false, 'test'),
    -- after the as-of date: invisible as of 2026-03-15
    ('t:13', 13, 10, 0, 'RON', 10, 10, '2026-03-16 10:00:00+02', false, 'test');

INSERT INTO volunteer_shifts (shift_id, contact_id, started_at, hours, activity) VALUES
    ('s:12a', 12, '2026-02-13 10:00:00+02', 4, 'food bank'),
    ('s:12b', 12, '2026-03-01 10:00:00+02', 4, 'food bank'),
    ('s:13',  13, '2026-02-14 10:00:00+02', 3, 'food bank'),
    ('s:14a', 14, '2025-05-01 10:00:00+03', 2, 'fair'),
    ('s:14b', 14, '2025-09-16 10:00:00+03', 2, 'fair'),
    ('s:15',  15, '2025-09-17 10:00:00+03', 2, 'fair');

INSERT INTO partners (partner_id, contact_id, partner_name, partner_type, stage, starts_on, ends_on) VALUES
    ('a:20',  20, 'Alfa SRL', 'sponsor', 'during', '2025-04-01', '2026-05-14'),
    ('a:21',  21, 'Beta Media', 'Media', 'during', '2025-01-01', '2026-05-15'),
    ('a:22',  22, 'Gamma Fundatie', 'endorser', 'during', '2024-01-01', '2025-12-31'),
    ('a:23',  23, 'Delta Coalitie', 'coalition', 'negotiate', '2026-04-01', '2027-03-31'),
    ('a:24',  24, 'Epsilon ONG', 'ngo', 'during', '2020-01-01', NULL),
    ('a:25a', 25, 'Zeta Licente', 'licensee', 'during', '2025-03-16', '2026-03-15'),
    ('a:25b', 25, 'Zeta Licente', 'licensee', 'before', '2026-03-16', '2027-03-15'),
    ('a:26a', 26, 'Eta Sponsor', 'sponsor', 'after', '2024-01-01', '2025-06-30'),
    ('a:26b', 26, 'Eta Sponsor', 'sponsor', 'during', '2026-03-15', '2026-12-31');

INSERT INTO interactions (interaction_id, contact_id, channel, direction, kind, occurred_at) VALUES
    ('i:30a', 30, 'email', 'outbound', 'message', '2024-01-10 10:00:00+02'),
    ('i:30b', 30, 'email', 'inbound',  'message', '2024-01-11 10:00:00+02'),
    ('i:31a', 31, 'email', 'outbound', 'message', '2024-01-10 10:00:00+02'),
    ('i:31b', 31, 'sms',   'inbound',  'message', '2025-03-16 00:30:00+02'),
    ('i:32',  32, 'email', 'outbound', 'message', '2026-01-10 10:00:00+02'),
    ('i:35a', 35, 'email', 'outbound', 'message', '2024-02-01 10:00:00+02'),
    ('i:35b', 35, 'email', 'inbound',  'message', '2025-03-15 12:00:00+02'),
    ('i:20',  20, 'email', 'outbound', 'message', '2024-02-01 10:00:00+02');
