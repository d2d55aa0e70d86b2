package FakeRedis;

# A tiny fake Redis for the faults a real server rarely shows: replies that are
# late, replies split across packets, connections dropped mid-command, and
# replies of the wrong shape. It answers SCRIPT LOAD, AUTH, SELECT and PING
# with plausible replies, and EVALSHA with a canned reply given by the test.
#
#   my $fake = FakeRedis->start(evalsha => FakeRedis::ok_reply(), delay => 0.5);
#
# Options: delay (seconds before each EVALSHA reply), split (send each EVALSHA
# reply in two writes this many seconds apart), drop (close the connection on
# EVALSHA instead of answering), evalsha (raw RESP to answer EVALSHA with).
# For a test that orders events across connections: evalsha_file (a file whose
# content, raw RESP, answers each EVALSHA; read when the command arrives),
# hold_file (EVALSHA replies wait while this file exists; other replies on that
# connection queue behind them), publish_file (each line appended to this file
# is sent to every connection that has SUBSCRIBEd, as a message on its channel;
# and once sent, "<line>" is appended to "<publish_file>.sent.<pid>"),
# log_file (each command received is appended to it, a line each: its name in
# upper case, then its arguments, separated by spaces).
#
# As a sentinel: sentinel_file names a file holding "host port" of the master,
# read at each SENTINEL get-master-addr-by-name; with announce, a subscriber
# to +switch-master is sent a message whenever the file changes;
# sentinel_delay holds each SENTINEL answer back this many seconds.

use strict;
use warnings;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep);

sub bulk { my ($s) = @_; return '$' . length($s) . "\r\n$s\r\n" }
sub int_reply { ":$_[0]\r\n" }

# A well-formed "ok" check reply for a key with one bucket of 10. Its time
# (Redis's clock) is written ":NOW_MS\r\n": replaced, as in any canned reply,
# by the fake's clock when the reply is sent (now => 'NOW_MS-3600000': an hour
# behind). Options: name, scopes, expires, now.
sub ok_reply {
    my (%o) = @_;
    return "*26\r\n" . bulk('ok') . ':' . ($o{now} // 'NOW_MS') . "\r\n" . bulk($o{name} // 'fake key')
         . bulk($o{scopes} // 'read')
         . int_reply($o{expires} // 0) . bulk('') . int_reply(1700000000) . int_reply(0)
         . bulk('AAAA')
         . int_reply(0) . bulk('')
         . bulk('') x 6   # owner role plan env meta allow_ip (v3)
         . bulk('') . ":-1\r\n:0\r\n:0\r\n"   # quota, no credits, no quotas (v5)
         . int_reply(10) . int_reply(600000) . int_reply(9) . int_reply(600000) . int_reply(0);
}

sub start {
    my ($class, %opt) = @_;
    my $listen = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Proto => 'tcp', ReuseAddr => 1) or die "listen: $!";
    my $self = bless { port => $listen->sockport, opt => \%opt }, $class;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);   # one process group: stop() ends the connection handlers too
        $SIG{CHLD} = 'IGNORE';
        while (1) {
            my $c = $listen->accept;
            if (!$c) {
                # a connection reset before it was taken, or a signal: the
                # listener stays (ending here would leave every later
                # connection unanswered)
                next if $!{EINTR} || $!{ECONNABORTED} || $!{EAGAIN};
                last;
            }
            my $child = fork;
            for (1 .. 50) {   # a loaded machine may refuse a fork for a moment
                last if defined $child;
                Time::HiRes::sleep(0.02);
                $child = fork;
            }
            if (defined $child && $child == 0) {
                close $listen;
                serve($c, \%opt);
                POSIX::_exit(0);
            }
            close $c;
        }
        POSIX::_exit(0);
    }
    close $listen;
    $self->{pid} = $pid;
    ApikeyTest::track(pgrp => $pid) if defined &ApikeyTest::track;   # ended if the test dies
    return $self;
}

sub port { $_[0]{port} }
sub address { "127.0.0.1:$_[0]{port}" }

# Takes complete RESP commands (arrays of bulk strings) off the front of $buf.
sub parse_commands {
    my ($buf) = @_;
    my @commands;
    while ($$buf =~ /\A\*(\d+)\r\n/) {
        my $n = $1;
        my $pos = length("*$n\r\n");
        my @words;
        for (1 .. $n) {
            return @commands unless substr($$buf, $pos) =~ /\A\$(\d+)\r\n/;
            my $len = $1;
            my $start = $pos + length("\$$len\r\n");
            return @commands if length($$buf) < $start + $len + 2;
            push @words, substr($$buf, $start, $len);
            $pos = $start + $len + 2;
        }
        substr($$buf, 0, $pos) = '';
        push @commands, \@words;
    }
    return @commands;
}

sub read_master {
    my ($file) = @_;
    open my $f, '<', $file or return;
    my $line = <$f> // '';
    return split ' ', $line;
}

sub now_ms {
    my ($reply) = @_;
    $reply =~ s/:NOW_MS([+-]\d+)?\r\n/':' . (int(Time::HiRes::time() * 1000) + ($1 \/\/ 0)) . "\r\n"/ge;
    return $reply;
}

sub reply_for { return now_ms(reply_for_raw(@_)) }

sub reply_for_raw {
    my ($cmd, $opt) = @_;
    my $name = uc($cmd->[0] // '');
    if ($name eq 'SENTINEL' && $opt->{sentinel_file}) {
        my ($host, $port) = read_master($opt->{sentinel_file});
        return $port ? "*2\r\n" . bulk($host) . bulk($port) : "*-1\r\n";
    }
    return "*3\r\n" . bulk('subscribe') . bulk($cmd->[1] // '') . ":1\r\n" if $name eq 'SUBSCRIBE';
    return bulk('0' x 40) if $name eq 'SCRIPT';
    if (($name eq 'EVALSHA' || $name eq 'EVAL') && $opt->{evalsha_file}) {
        open my $f, '<', $opt->{evalsha_file} or die "$opt->{evalsha_file}: $!";
        local $/;
        return scalar <$f>;
    }
    return $opt->{evalsha} // ok_reply() if $name eq 'EVALSHA' || $name eq 'EVAL';
    return "+PONG\r\n" if $name eq 'PING';
    return "+OK\r\n";
}

# Answers in order, each EVALSHA `delay` seconds after it arrived, like a server
# that is slow per command but still pipelines.
sub serve {
    my ($c, $opt) = @_;
    my $buf = '';
    my @queue;   # [due time, reply, is check]
    my $sel = IO::Select->new($c);
    my $announced;   # the master last told to a +switch-master subscriber
    my $channel;     # SUBSCRIBEd to, with publish_file
    my $published = 0;   # lines of publish_file sent
    while (1) {
        my $wait = @queue ? $queue[0][0] - Time::HiRes::time() : undef;
        $wait = 0 if defined $wait && $wait < 0;
        my $holding = $opt->{hold_file} && -e $opt->{hold_file};
        $wait = 0.02 if $holding && @queue;
        if (defined $channel) {
            $wait = 0.02 if !defined $wait || $wait > 0.02;
            if (open my $f, '<', $opt->{publish_file}) {
                my @lines = <$f>;
                for my $line (@lines[$published .. $#lines]) {
                    chomp $line;
                    syswrite $c, "*3\r\n" . bulk('message') . bulk($channel) . bulk($line);
                    if (open my $sent, '>>', "$opt->{publish_file}.sent.$$") {
                        print $sent "$line\n";
                    }
                }
                $published = @lines;
            }
        }
        if (defined $announced) {
            $wait = 0.05 if !defined $wait || $wait > 0.05;
            my $now = join ' ', read_master($opt->{sentinel_file});
            if ($now ne $announced) {
                my ($old_host, $old_port) = split ' ', $announced;
                syswrite $c, "*3\r\n" . bulk('message') . bulk('+switch-master')
                           . bulk("$opt->{announce} $old_host $old_port $now");
                $announced = $now;
            }
        }
        if ($sel->can_read($wait)) {
            my $n = sysread $c, my $chunk, 65536;
            return unless $n;
            $buf .= $chunk;
            for my $cmd (parse_commands(\$buf)) {
                if ($opt->{log_file} && open my $log, '>>', $opt->{log_file}) {
                    # one write(2) per line: each connection's handler is a
                    # process of its own, and a line written in pieces (a
                    # SCRIPT LOAD of 20 KiB through a buffered print) could
                    # take another's in the middle (t/305 then missed the
                    # SUBSCRIBE that was there)
                    syswrite $log, join(' ', uc($cmd->[0] // ''), @$cmd[1 .. $#$cmd]) . "\n";
                }
                my $check = uc($cmd->[0] // '') =~ /^EVAL/;
                $announced = join ' ', read_master($opt->{sentinel_file})
                    if uc($cmd->[0] // '') eq 'SUBSCRIBE' && $opt->{announce};
                $channel = $cmd->[1] // ''
                    if uc($cmd->[0] // '') eq 'SUBSCRIBE' && $opt->{publish_file};
                return if $check && $opt->{drop};   # hang up instead of answering
                my $held = $check ? $opt->{delay}
                         : uc($cmd->[0] // '') eq 'SENTINEL' ? $opt->{sentinel_delay} : 0;
                my $due = Time::HiRes::time() + ($held // 0);
                push @queue, [$due, reply_for($cmd, $opt), $check];
            }
        }
        while (@queue && $queue[0][0] <= Time::HiRes::time()) {
            last if $queue[0][2] && $opt->{hold_file} && -e $opt->{hold_file};
            my (undef, $reply, $check) = @{ shift @queue };
            if ($check && $opt->{split}) {
                my $half = int(length($reply) / 2);
                syswrite $c, substr($reply, 0, $half);
                sleep $opt->{split};
                $reply = substr($reply, $half);
            }
            syswrite $c, $reply;
        }
    }
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', -$self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

sub DESTROY { $_[0]->stop }

1;
